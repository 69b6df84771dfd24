package colocation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

// fixtureView is a beacon service that reports a recorded view.
type fixtureView BeaconView

func (v fixtureView) View() BeaconView            { return BeaconView(v) }
func (fixtureView) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (fixtureView) SetPolicy(detectors.Policy)    {}

// recordedNet is what netinfo returned on a macOS or Windows host.
type recordedNet struct {
	Interfaces []netinfo.Interface `json:"interfaces"`
	Gateway    *netinfo.Gateway    `json:"gateway"`
	Neighbours []netinfo.Neighbour `json:"neighbours"`
	WiFi       netinfo.WiFiStatus  `json:"wifi"`
}

// readOptional reads dir/name; nil when it does not exist.
func readOptional(t testing.TB, dir, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeFile(t testing.TB, dir, name string, v any) bool {
	t.Helper()
	data := readOptional(t, dir, name)
	if data == nil {
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s/%s: %v", dir, name, err)
	}
	return true
}

// fixture builds the detector, host and policy of a fixture directory.
func fixture(t testing.TB, dir string) (*Detector, *detectors.Host, *Policy) {
	t.Helper()
	goos, _, _ := strings.Cut(filepath.Base(dir), "-")
	h := detectortest.Host(t, goos, dir)
	d := &Detector{net: systemNet}
	if goos == "linux" {
		var wifi netinfo.WiFiStatus
		if !decodeFile(t, dir, "wifi.json", &wifi) {
			wifi = netinfo.WiFiStatus{Reason: "no Wi-Fi stack: the kernel has no nl80211 (cfg80211 is not loaded)"}
		}
		d.net.wifi = func(context.Context, *detectors.Host) (netinfo.WiFiStatus, error) { return wifi, nil }
	} else {
		var rn recordedNet
		if !decodeFile(t, dir, "net.json", &rn) {
			t.Fatalf("%s: no net.json", dir)
		}
		d.net = netReader{
			interfaces: func(context.Context, *detectors.Host) ([]netinfo.Interface, error) { return rn.Interfaces, nil },
			gateway: func(context.Context, *detectors.Host) (netinfo.Gateway, error) {
				if rn.Gateway == nil {
					return netinfo.Gateway{}, netinfo.ErrNoGateway
				}
				return *rn.Gateway, nil
			},
			neighbours: func(context.Context, *detectors.Host) ([]netinfo.Neighbour, error) { return rn.Neighbours, nil },
			wifi:       func(context.Context, *detectors.Host) (netinfo.WiFiStatus, error) { return rn.WiFi, nil },
		}
	}
	packets := readPackets(t, dir)
	d.browse = func(_ context.Context, ifaces []int, queries [][]byte, _ time.Duration) ([]mdnsPacket, error) {
		if len(ifaces) == 0 || len(queries) == 0 {
			t.Errorf("browse asked nothing: %v %d", ifaces, len(queries))
		}
		return packets, nil
	}
	var sw struct {
		Sent    int `json:"sent"`
		Replies []struct {
			IP  netip.Addr `json:"ip"`
			MAC string     `json:"mac"`
		} `json:"replies"`
	}
	haveSweep := decodeFile(t, dir, "sweep.json", &sw)
	d.sweep = func(_ context.Context, r sweepRequest) (int, []sweepReply, error) {
		if !haveSweep {
			return 0, nil, errNoRawSocket
		}
		if len(r.Targets) != sw.Sent {
			t.Errorf("sweep of %d targets, fixture recorded %d", len(r.Targets), sw.Sent)
		}
		var out []sweepReply
		for _, x := range sw.Replies {
			out = append(out, sweepReply{IP: x.IP, MAC: x.MAC})
		}
		return len(r.Targets), out, nil
	}
	pol := DefaultPolicy()
	if raw := readOptional(t, dir, "policy.json"); raw != nil {
		p, err := d.DecodePolicy(raw)
		if err != nil {
			t.Fatalf("%s/policy.json: %v", dir, err)
		}
		pol = p.(*Policy)
	}
	var view BeaconView
	if decodeFile(t, dir, "beacon.json", &view) {
		h.Services = map[string]detectors.Service{Name: fixtureView(view)}
	}
	return d, h, pol
}

// readPackets reads mdns.txt: "<from> <hex>" per line, # comments.
func readPackets(t testing.TB, dir string) []mdnsPacket {
	t.Helper()
	data := readOptional(t, dir, "mdns.txt")
	var out []mdnsPacket
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		from, hx, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatalf("%s/mdns.txt: %v", dir, err)
		}
		out = append(out, mdnsPacket{From: netip.MustParseAddr(from), Data: b})
	}
	return out
}

// rawIdentifiers match whole MAC addresses; findings must not carry them.
var rawMAC = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b`)

func TestFixtures(t *testing.T) {
	t.Parallel()
	var dirs []string
	for _, goos := range []string{"linux-", "darwin-", "windows-"} {
		dirs = append(dirs, detectortest.Dirs(t, goos)...)
	}
	if len(dirs) < 4 {
		t.Fatalf("only %d fixtures", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			d, h, pol := fixture(t, dir)
			obs, err := d.ObserveWith(context.Background(), h, pol)
			if err != nil {
				t.Fatal(err)
			}
			o := obs.(*Observation)
			detectortest.GoldenJSON(t, filepath.Join(dir, "observation.json"), o)
			raw, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			back, err := d.DecodeObservation(raw)
			if err != nil {
				t.Fatal(err)
			}
			fs := d.Evaluate(back, nil, pol)
			if fs == nil {
				fs = []detectors.Finding{}
			}
			for i := range fs {
				fs[i].Detector = Name
				if err := fs[i].Validate(); err != nil {
					t.Error(err)
				}
			}
			detectortest.GoldenJSON(t, filepath.Join(dir, "findings.json"), fs)
			ev, _ := json.Marshal(fs)
			if m := rawMAC.FindString(string(ev)); m != "" {
				t.Errorf("a finding carries the raw MAC %s", m)
			}
			for _, l := range o.WiFi.Links {
				if l.SSID != "" && strings.Contains(string(ev), l.SSID) {
					t.Errorf("a finding carries the SSID %q", l.SSID)
				}
			}
		})
	}
}

// TestFarmFixture pins what the farm fixture must show, independently of
// its goldens.
func TestFarmFixture(t *testing.T) {
	t.Parallel()
	d, h, pol := fixture(t, filepath.Join("testdata", "linux-farm_pikvm_jetkvm"))
	obs, err := d.ObserveWith(context.Background(), h, pol)
	if err != nil {
		t.Fatal(err)
	}
	o := obs.(*Observation)
	if o.Gateway == nil || o.Gateway.MAC != "94:83:c4:12:34:56" || o.Gateway.KVM == nil || !o.Gateway.KVM.Weak {
		t.Errorf("gateway %+v", o.Gateway)
	}
	if !o.Sweep.Ran || o.Sweep.Prefix != "192.168.1.0/24" || o.Sweep.Answered != 5 {
		t.Errorf("sweep %+v", o.Sweep)
	}
	got := map[string]detectors.Severity{}
	var kvms []string
	for _, f := range d.Evaluate(o, nil, pol) {
		got[f.Rule] = f.Severity
		if f.Rule == RuleKVMAppliance {
			kvms = append(kvms, f.Evidence["vendor"].(string)+"@"+f.Evidence["ip"].(string))
			if f.Escalate == nil || f.Escalate.Detector != "kvm" {
				t.Errorf("%s asks no escalation by the kvm detector", f.ID)
			}
		}
	}
	if got[RulePeers] != detectors.SeverityHigh {
		t.Errorf("peers: %v", got)
	}
	want := []string{"PiKVM@192.168.1.23", "JetKVM@192.168.1.31", "NanoKVM (USB network, device side)@192.168.1.88"}
	if strings.Join(kvms, ",") != strings.Join(want, ",") {
		t.Errorf("appliances %v, want %v (the GL.iNet gateway alone is no KVM)", kvms, want)
	}
	var c detectors.ReportContext
	o.Contribute(&c)
	if c.GatewayMAC != "94:83:c4:12:34:56" || c.SSID != "FarmNet-5G" || len(c.BSSIDs) != 1 || len(c.Peers) != 4 || c.Beacons == nil || c.Beacons.Rejected[RejectBadMAC] != 3 {
		t.Errorf("contribution %+v", c)
	}
}

func TestObserveWithoutService(t *testing.T) {
	t.Parallel()
	d, h, pol := fixture(t, filepath.Join("testdata", "linux-clean_vm"))
	obs, err := d.ObserveWith(context.Background(), h, pol)
	if err != nil {
		t.Fatal(err)
	}
	o := obs.(*Observation)
	if o.Beacon.Running || o.Beacon.Reason == "" || o.Sweep.Ran || !strings.Contains(o.Sweep.Skipped, "policy") {
		t.Errorf("beacon %+v sweep %+v", o.Beacon, o.Sweep)
	}
	if _, err := d.Observe(context.Background(), &detectors.Host{GOOS: "plan9"}); !errors.Is(err, detectors.ErrUnsupported) {
		t.Errorf("plan9: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Observe(ctx, h); err == nil {
		t.Error("a cancelled observe succeeded")
	}
}

func TestSweepSkipped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, policy, want string
		noRaw              bool
	}{
		{"no raw socket", `{"arp_sweep": true}`, "CAP_NET_RAW", true},
		{"subnet too big", `{"arp_sweep": true, "sweep_max_prefix": 25, "sweep_rate": 50}`, "larger than /25", false},
		{"off", `{}`, "disabled by policy", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, h, _ := fixture(t, filepath.Join("testdata", "linux-farm_pikvm_jetkvm"))
			pol, err := d.DecodePolicy(json.RawMessage(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			if tc.noRaw {
				d.sweep = func(context.Context, sweepRequest) (int, []sweepReply, error) { return 0, nil, errNoRawSocket }
			}
			obs, err := d.ObserveWith(context.Background(), h, pol)
			if err != nil {
				t.Fatal(err)
			}
			if s := obs.(*Observation).Sweep; s.Ran || !strings.Contains(s.Skipped, tc.want) {
				t.Errorf("sweep %+v, want skipped with %q", s, tc.want)
			}
		})
	}
	d, h, _ := fixture(t, filepath.Join("testdata", "windows-clean"))
	pol, err := d.DecodePolicy(json.RawMessage(`{"arp_sweep": true}`))
	if err != nil {
		t.Fatal(err)
	}
	obs, _ := d.ObserveWith(context.Background(), h, pol)
	if s := obs.(*Observation).Sweep; !strings.Contains(s.Skipped, "not Linux") {
		t.Errorf("windows sweep %+v", s)
	}
}

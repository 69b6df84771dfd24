package geodrift

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

// recordedNative replays the Windows data of a fixture (native.json),
// recorded by the same calls that run under Wine in CI.
type recordedNative struct {
	TZKey     string               `json:"time_zone_key_name"`
	LocaleV   string               `json:"locale"`
	LocaleSrc string               `json:"locale_source"`
	KLIDs     []KLID               `json:"keyboard_layouts"`
	Sw        []inventory.Software `json:"software"`
}

func (r recordedNative) TimeZoneKeyName(context.Context) (string, error) { return r.TZKey, nil }
func (r recordedNative) Locale(context.Context) (string, string, error) {
	return r.LocaleV, r.LocaleSrc, nil
}
func (r recordedNative) KeyboardLayouts(context.Context) ([]KLID, error) { return r.KLIDs, nil }

// recordedNetwork replays the network facts of a fixture (network.json).
type recordedNetwork struct {
	Tuns        []Tunnel `json:"tunnels"`
	GW          Network  `json:"gateway"`
	APs         []string `json:"bssids"`
	Unavailable string   `json:"wifi_unavailable"`
}

func (r recordedNetwork) Tunnels(context.Context, *detectors.Host) ([]Tunnel, error) {
	return r.Tuns, nil
}
func (r recordedNetwork) Gateway(context.Context, *detectors.Host) (Network, error) {
	return r.GW, nil
}
func (r recordedNetwork) BSSIDs(context.Context, *detectors.Host) ([]string, string, error) {
	return slices.Clone(r.APs), r.Unavailable, nil
}

// readJSON decodes dir/name into v; false when the file does not exist.
func readJSON(t testing.TB, dir, name string, v any) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s/%s: %v", dir, name, err)
	}
	return true
}

// fixtureDetector returns the detector, fake host and policy of a fixture.
func fixtureDetector(t testing.TB, dir string) (*detector, *detectors.Host, *Policy) {
	t.Helper()
	goos, _, _ := strings.Cut(filepath.Base(dir), "-")
	d := New().(*detector)
	var rn recordedNative
	if readJSON(t, dir, "native.json", &rn) {
		d.native = rn
		d.winSoftware = func(context.Context) ([]inventory.Software, error) { return rn.Sw, nil }
	}
	var net recordedNetwork
	readJSON(t, dir, "network.json", &net)
	d.network = net
	var raw json.RawMessage
	readJSON(t, dir, "policy.json", &raw)
	pol, err := d.DecodePolicy(raw)
	if err != nil {
		t.Fatalf("%s/policy.json: %v", dir, err)
	}
	return d, detectortest.Host(t, goos, dir), pol.(*Policy)
}

// fixtures lists every fixture with exactly the rules it must raise, the
// severity of each, and the VPN clients its observation must name.
var fixtures = []struct {
	dir     string
	rules   map[string]detectors.Severity
	clients []string
}{
	{dir: "linux-clean", clients: []string{"globalprotect"}},
	{dir: "linux-astrill", clients: []string{"astrill", "openvpn"},
		rules: map[string]detectors.Severity{RuleVPNRunning: detectors.SeverityHigh, RuleTimeZone: detectors.SeverityLow}},
	{dir: "darwin-clean", clients: []string{"globalprotect"}},
	{dir: "darwin-nordvpn-tailscale", clients: []string{"nordvpn", "tailscale"},
		rules: map[string]detectors.Severity{RuleVPNInstalled: detectors.SeverityLow}},
	{dir: "windows-clean", clients: []string{"cisco_secure_client", "openvpn"}},
	{dir: "windows-astrill", clients: []string{"astrill"},
		rules: map[string]detectors.Severity{RuleVPNRunning: detectors.SeverityHigh, RuleTimeZone: detectors.SeverityLow}},
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, fx := range fixtures {
		seen[fx.dir] = true
		t.Run(fx.dir, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", fx.dir)
			d, h, pol := fixtureDetector(t, dir)
			obs, err := d.ObserveWith(t.Context(), h, pol)
			if obs == nil {
				t.Fatalf("Observe: %v", err)
			}
			o := obs.(*Observation)
			if err != nil && len(o.Errors) == 0 {
				t.Fatalf("Observe failed without naming a source: %v", err)
			}
			detectortest.GoldenJSON(t, filepath.Join(dir, "observation.json"), obs)

			raw, _ := json.Marshal(obs)
			back, err := d.DecodeObservation(raw)
			if err != nil {
				t.Fatalf("DecodeObservation: %v", err)
			}
			findings := append([]detectors.Finding{}, d.Evaluate(back, nil, pol)...)
			got := map[string]detectors.Severity{}
			for i := range findings {
				findings[i].Detector = Name
				if err := findings[i].Validate(); err != nil {
					t.Errorf("invalid finding: %v", err)
				}
				got[findings[i].Rule] = findings[i].Severity
			}
			detectors.SortFindings(findings)
			detectortest.GoldenJSON(t, filepath.Join(dir, "findings.json"), findings)

			want := fx.rules
			if want == nil {
				want = map[string]detectors.Severity{}
			}
			if len(got) != len(want) || len(findings) != len(want) {
				t.Errorf("rules %v, want %v", got, want)
			}
			for r, s := range want {
				if g, ok := got[r]; !ok || g != s {
					t.Errorf("rule %s: severity %v (raised %v), want %v", r, g, ok, s)
				}
			}
			var ids []string
			for _, c := range o.VPNClients {
				ids = append(ids, c.ID)
			}
			if !slices.Equal(ids, fx.clients) {
				t.Errorf("VPN clients %v, want %v", ids, fx.clients)
			}
		})
	}
	for _, dir := range detectortest.Dirs(t, "") {
		if base := filepath.Base(dir); !seen[base] && base != "netinfo" {
			t.Errorf("fixture %s has no expectations in the fixtures table", dir)
		}
	}
}

package colocation

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

func peersHeard(n int, ago time.Duration) []HeardPeer {
	var out []HeardPeer
	for i := range n {
		out = append(out, HeardPeer{DeviceID: fmt.Sprintf("fw-%032x", i+1), Vias: []string{ViaMulticast}, Addr: fmt.Sprintf("10.0.0.%d", i+2),
			FirstHeard: testT0.Add(-time.Hour), LastHeard: testT0.Add(-ago)})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	jet := &KVMMatch{Vendor: "JetKVM", Prefix: "30:52:53"}
	pi := &KVMMatch{Vendor: "Raspberry Pi (PiKVM hardware)", Prefix: "dc:a6:32", Weak: true}
	neighbour := func(ip, mac, source string, m *KVMMatch) Neighbour {
		return Neighbour{Neighbour: netinfo.Neighbour{IP: netip.MustParseAddr(ip), MAC: mac, Interface: "eth0"}, Source: source, KVM: m}
	}
	for _, tc := range []struct {
		name   string
		obs    Observation
		policy string
		want   []string // rule@severity
	}{
		{name: "clean", want: nil},
		{name: "two peers under the threshold", obs: Observation{Beacon: BeaconView{Running: true, Peers: peersHeard(2, time.Minute)}}},
		{name: "three peers", obs: Observation{Beacon: BeaconView{Running: true, Peers: peersHeard(3, time.Minute)}}, want: []string{"colocation.peers@high"}},
		{name: "three peers, heard too long ago", obs: Observation{Beacon: BeaconView{Peers: peersHeard(3, 20*time.Minute)}}},
		{name: "duplicate peer counts once", obs: Observation{Beacon: BeaconView{Peers: append(peersHeard(2, 0), peersHeard(1, 0)...)}}},
		{name: "threshold from policy", obs: Observation{Beacon: BeaconView{Peers: peersHeard(2, 0)}}, policy: `{"peer_threshold": 2}`, want: []string{"colocation.peers@high"}},
		{name: "peers rule disabled", obs: Observation{Beacon: BeaconView{Peers: peersHeard(5, 0)}}, policy: `{"disable_rules": ["colocation.peers"]}`},
		{name: "JetKVM block in the neighbour table", obs: Observation{Neighbours: []Neighbour{neighbour("10.0.0.9", "30:52:53:00:00:01", "table", jet)}},
			want: []string{"colocation.kvm_appliance@medium"}},
		{name: "a Raspberry Pi alone", obs: Observation{Neighbours: []Neighbour{neighbour("10.0.0.9", "dc:a6:32:00:00:01", "table", pi)}}},
		{name: "pikvm.local on a Raspberry Pi is one appliance", obs: Observation{
			Neighbours: []Neighbour{neighbour("10.0.0.9", "dc:a6:32:00:00:01", "sweep", pi)},
			MDNS:       MDNSResult{Hosts: []MDNSHost{{Name: "pikvm.local.", Addrs: []string{"10.0.0.9"}, From: "10.0.0.9", KVM: "PiKVM"}}}},
			want: []string{"colocation.kvm_appliance@medium"}},
		{name: "a KVM's USB network interface on the laptop", obs: Observation{Interfaces: []Interface{{Interface: netinfo.Interface{Name: "usb0"},
			KVM: &KVMMatch{Vendor: "NanoKVM (USB network, host side)", Prefix: "48:da:35:6d"}}}}, want: []string{"colocation.kvm_appliance@medium"}},
		{name: "KVM rule disabled", obs: Observation{Neighbours: []Neighbour{neighbour("10.0.0.9", "30:52:53:00:00:01", "table", jet)}},
			policy: `{"disable_rules": ["colocation.kvm_appliance"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := DecodePolicy([]byte(tc.policy))
			if err != nil {
				t.Fatal(err)
			}
			o := tc.obs
			o.CollectedAt = testT0
			var got []string
			for _, f := range evaluate(&o, p) {
				got = append(got, f.Rule+"@"+f.Severity.String())
				f.Detector = Name
				if err := f.Validate(); err != nil {
					t.Error(err)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
		})
	}
}

// TestKVMEscalation runs the engine with a stand-in kvm detector: a KVM
// appliance on the LAN is medium alone and high with a KVM on USB.
func TestKVMEscalation(t *testing.T) {
	t.Parallel()
	lan := &Observation{CollectedAt: testT0, Neighbours: []Neighbour{{Neighbour: netinfo.Neighbour{IP: netip.MustParseAddr("10.0.0.9"), MAC: "30:52:53:00:00:01"},
		Source: "table", KVM: &KVMMatch{Vendor: "JetKVM", Prefix: "30:52:53"}}}}
	for _, tc := range []struct {
		name string
		usb  detectors.Severity
		want detectors.Severity
	}{
		{"KVM on USB", detectors.SeverityHigh, detectors.SeverityHigh},
		{"only a low kvm finding", detectors.SeverityLow, detectors.SeverityMedium},
	} {
		kvm := &stubDetector{name: "kvm", findings: []detectors.Finding{{ID: "k", Rule: "kvm.pikvm_usb_identity", Severity: tc.usb, Title: "t", Summary: "s"}}}
		e := &detectors.Engine{Detectors: []detectors.Detector{&Detector{}, kvm}, Policies: map[string]detectors.Policy{Name: DefaultPolicy()}}
		fs, _ := e.Evaluate(map[string]detectors.Observation{Name: lan, "kvm": lan}, nil, testT0)
		for _, f := range fs {
			if f.Rule != RuleKVMAppliance {
				continue
			}
			if f.Severity != tc.want {
				t.Errorf("%s: appliance finding %s, want %s", tc.name, f.Severity, tc.want)
			}
			_, corroborated := f.Evidence[detectors.EvidenceCorroboratedBy]
			if corroborated != (tc.want == detectors.SeverityHigh) || f.Escalate != nil {
				t.Errorf("%s: evidence %v escalate %v", tc.name, f.Evidence, f.Escalate)
			}
		}
	}
}

// stubDetector returns fixed findings.
type stubDetector struct {
	Detector
	name     string
	findings []detectors.Finding
}

func (s *stubDetector) Name() string { return s.name }
func (s *stubDetector) Evaluate(detectors.Observation, detectors.Observation, detectors.Policy) []detectors.Finding {
	return slices.Clone(s.findings)
}

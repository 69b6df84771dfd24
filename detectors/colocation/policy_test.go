package colocation

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDecodePolicy(t *testing.T) {
	t.Parallel()
	def, err := DecodePolicy(nil)
	if err != nil || def.PeerThreshold != 3 || def.PeerWindow != 15*time.Minute || def.BeaconInterval != time.Minute || def.ARPSweep || !def.MDNS || !def.Beacon || def.SweepMaxPrefix != 24 {
		t.Fatalf("default %+v %v", def, err)
	}
	for _, raw := range []string{"", "null", "{}"} {
		if p, err := DecodePolicy(json.RawMessage(raw)); err != nil || p.ARPSweep {
			t.Errorf("%q: %+v %v", raw, p, err)
		}
	}
	p, err := DecodePolicy(json.RawMessage(`{"peer_threshold": 2, "peer_window": "30m", "beacon_interval": "10s", "beacon_port": 40000,
		"beacon_group": "239.1.2.3", "beacon_broadcast": false, "mdns": false, "arp_sweep": true, "sweep_max_prefix": 22, "sweep_rate": 200,
		"kvm_names": ["MyKVM.local."], "kvm_mac_prefixes": [{"prefix": "AA-BB-CC-D", "vendor": "Acme"}], "disable_rules": ["colocation.peers"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.PeerThreshold != 2 || p.BeaconInterval != 10*time.Second || p.BeaconGroup.String() != "239.1.2.3" || p.BeaconBroadcast || p.MDNS ||
		!p.ARPSweep || p.SweepRate != 200 || p.KVMNames[0] != "mykvm" || p.KVMMACPrefixes[0].Prefix != "aa:bb:cc:d" || !p.disabled(RulePeers) {
		t.Errorf("decoded %+v", p)
	}
	for _, tc := range []struct{ raw, want string }{
		{`{"peer_threshold": 0}`, "peer_threshold: 0 is outside 1"},
		{`{"peer_window": "soon"}`, `peer_window: "soon" is not a duration`},
		{`{"beacon_interval": "1s"}`, "beacon_interval: 1s is outside 5s"},
		{`{"beacon_interval": "10m"}`, "peer_window: 15m0s is shorter than two beacon intervals"},
		{`{"beacon_port": 80}`, "beacon_port: 80 is outside 1024"},
		{`{"beacon_group": "224.0.0.251"}`, "not an administratively scoped"},
		{`{"beacon_group": "ff02::1"}`, "not an administratively scoped"},
		{`{"beacon_group": "here"}`, "not an IPv4 address"},
		{`{"beacon_max_skew": "1s"}`, "beacon_max_skew"},
		{`{"mdns_duration": "1m"}`, "mdns_duration"},
		{`{"sweep_max_prefix": 16}`, "sweep_max_prefix: 16 is outside 20"},
		{`{"sweep_max_prefix": 20, "sweep_rate": 10}`, "takes longer than 30s"},
		{`{"sweep_rate": 0}`, "sweep_rate"},
		{`{"kvm_names": ["bad name"]}`, "kvm_names[0]"},
		{`{"kvm_mac_prefixes": [{"prefix": "zz:00:11", "vendor": "X"}]}`, "kvm_mac_prefixes[0]"},
		{`{"kvm_mac_prefixes": [{"prefix": "00:11", "vendor": "X"}]}`, "want 3 to 5 bytes"},
		{`{"kvm_mac_prefixes": [{"prefix": "00:11:22", "vendor": ""}]}`, "vendor is empty"},
		{`{"disable_rules": ["colocation.nope"]}`, `unknown rule "colocation.nope"`},
		{`{"lan_sweep": true}`, "unknown field"},
		{`{"peer_threshold": "3"}`, "cannot unmarshal"},
	} {
		_, err := DecodePolicy(json.RawMessage(tc.raw))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "colocation policy: ") {
			t.Errorf("%s: %v, want an error with %q", tc.raw, err, tc.want)
		}
	}
	// Every problem is reported at once.
	_, err = DecodePolicy(json.RawMessage(`{"peer_threshold": 0, "beacon_port": 1}`))
	if err == nil || !strings.Contains(err.Error(), "peer_threshold") || !strings.Contains(err.Error(), "beacon_port") {
		t.Errorf("joined errors: %v", err)
	}
}

func TestMACPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix, mac string
		match       bool
	}{
		{"30:52:53", "30:52:53:01:02:03", true},
		{"30:52:53", "30:52:54:01:02:03", false},
		{"04:c9:8b:1", "04:c9:8b:1f:00:01", true},
		{"04:c9:8b:1", "04:c9:8b:2f:00:01", false},
		{"48:DA:35:6D", "48:da:35:6d:00:01", true},
		{"48:da:35:6d", "48:da:35:6e:00:01", false},
		{"30:52:53", "not a mac", false},
	} {
		p, err := parseMACPrefix(tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.match(tc.mac); got != tc.match {
			t.Errorf("%s ~ %s: %v", tc.prefix, tc.mac, got)
		}
	}
	for _, e := range kvmMACPrefixes {
		p, err := parseMACPrefix(e.Prefix)
		if err != nil || p.String() != e.Prefix {
			t.Errorf("built-in %s: %v (%s)", e.Prefix, err, p)
		}
	}
	c := newCatalogue(DefaultPolicy())
	if m, ok := c.macVendor("48:da:35:6d:aa:bb"); !ok || m.Vendor != "NanoKVM (USB network, host side)" {
		t.Errorf("nanokvm: %+v", m)
	}
	for name, want := range map[string]string{"pikvm.local.": "PiKVM", "JetKVM-0a1b2c.local.": "JetKVM", "pikvmx.local.": "", "my-pikvm.local.": ""} {
		p, _ := c.hostProduct(name)
		if p.vendor != want {
			t.Errorf("host %s: %q, want %q", name, p.vendor, want)
		}
	}
	if p, ok := c.instanceProduct("Office Pi-KVM._https._tcp.local."); !ok || p.vendor != "PiKVM" {
		t.Errorf("instance: %+v", p)
	}
}

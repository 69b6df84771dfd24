package geodrift

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

func mustPolicy(t *testing.T, raw string) *Policy {
	t.Helper()
	p, err := decodePolicy(json.RawMessage(raw), DefaultCatalogue())
	if err != nil {
		t.Fatalf("policy %s: %v", raw, err)
	}
	return p
}

func TestEvaluateVPNClients(t *testing.T) {
	t.Parallel()
	astrill := VPNClient{ID: "astrill", Name: "Astrill VPN", Category: CategoryConsumer, Reported: true,
		Evidence: []Evidence{{Source: "path", Detail: "/usr/local/Astrill"}}}
	nord := VPNClient{ID: "nordvpn", Name: "NordVPN", Category: CategoryConsumer,
		Evidence: []Evidence{{Source: "software", Detail: "dpkg package nordvpn 3.19.0"}}}
	running := func(c VPNClient) VPNClient {
		c.Running = true
		c.Evidence = append([]Evidence{{Source: "process", Detail: "pid 42 x"}}, c.Evidence...)
		return c
	}
	for _, tt := range []struct {
		name   string
		client VPNClient
		policy string
		rule   string
		sev    detectors.Severity
	}{
		{"astrill installed is high", astrill, `{}`, RuleVPNInstalled, detectors.SeverityHigh},
		{"astrill running is high", running(astrill), `{}`, RuleVPNRunning, detectors.SeverityHigh},
		{"consumer installed is low", nord, `{}`, RuleVPNInstalled, detectors.SeverityLow},
		{"consumer running is medium", running(nord), `{}`, RuleVPNRunning, detectors.SeverityMedium},
		{"sanctioned consumer raises nothing", running(nord), `{"sanctioned":["nordvpn"]}`, "", 0},
		{"sanctioning another client changes nothing", running(nord), `{"sanctioned":["expressvpn"]}`, RuleVPNRunning, detectors.SeverityMedium},
		{"sanctioned astrill raises nothing", running(astrill), `{"sanctioned":["astrill"]}`, "", 0},
		{"corporate raises nothing", VPNClient{ID: "globalprotect", Name: "GlobalProtect", Category: CategoryCorporate, Running: true}, `{}`, "", 0},
		{"mesh raises nothing", VPNClient{ID: "tailscale", Name: "Tailscale", Category: CategoryMesh, Running: true}, `{}`, "", 0},
		{"generic raises nothing", VPNClient{ID: "openvpn", Name: "OpenVPN", Category: CategoryGeneric}, `{}`, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &Observation{Schema: Schema, VPNClients: []VPNClient{tt.client}}
			fs := New().Evaluate(o, nil, mustPolicy(t, tt.policy))
			if tt.rule == "" {
				if len(fs) != 0 {
					t.Fatalf("findings %+v, want none", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want 1: %+v", len(fs), fs)
			}
			f := fs[0]
			f.Detector = Name
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			if f.Rule != tt.rule || f.Severity != tt.sev {
				t.Errorf("%s at %s, want %s at %s", f.Rule, f.Severity, tt.rule, tt.sev)
			}
			if f.Evidence["client"] != tt.client.ID || !strings.Contains(f.Summary, tt.client.Evidence[0].Detail) {
				t.Errorf("evidence %v / summary %q do not name the client and what matched", f.Evidence, f.Summary)
			}
			if f.ID != detectors.FindingID(tt.rule, tt.client.ID) {
				t.Errorf("id %s is not derived from rule and client", f.ID)
			}
		})
	}
}

func TestEvaluateTimeZone(t *testing.T) {
	t.Parallel()
	us := `{"expected_time_zones":["America/Chicago","America/New_York"]}`
	for _, tt := range []struct {
		name, zone, policy string
		offset             int
		want               bool
		wantOffset         string
	}{
		{name: "expected zone", zone: "America/Chicago", policy: us, offset: -21600},
		{name: "unexpected zone", zone: "Asia/Shanghai", policy: us, offset: 28800, want: true, wantOffset: "+08:00"},
		{name: "same offset, other zone name still differs", zone: "America/Winnipeg", policy: us, offset: -21600, want: true, wantOffset: "-06:00"},
		{name: "half-hour offset", zone: "Asia/Kolkata", policy: us, offset: 19800, want: true, wantOffset: "+05:30"},
		{name: "unknown zone raises nothing", zone: "", policy: us},
		{name: "no expected zones raises nothing", zone: "Asia/Pyongyang", policy: `{}`, offset: 32400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := &Observation{Schema: Schema, TimeZone: TimeZone{Name: tt.zone, UTCOffsetSeconds: tt.offset, Source: "/etc/timezone"}}
			fs := New().Evaluate(o, nil, mustPolicy(t, tt.policy))
			if !tt.want {
				if len(fs) != 0 {
					t.Fatalf("findings %+v, want none", fs)
				}
				return
			}
			if len(fs) != 1 || fs[0].Rule != RuleTimeZone || fs[0].Severity != detectors.SeverityLow {
				t.Fatalf("findings %+v, want one %s at low", fs, RuleTimeZone)
			}
			if fs[0].Evidence["utc_offset"] != tt.wantOffset || fs[0].Evidence["time_zone"] != tt.zone {
				t.Errorf("evidence %v", fs[0].Evidence)
			}
		})
	}
}

func TestEvaluateWithoutPolicyOrObservation(t *testing.T) {
	t.Parallel()
	d := New()
	o := &Observation{Schema: Schema, TimeZone: TimeZone{Name: "Asia/Seoul"},
		VPNClients: []VPNClient{{ID: "astrill", Name: "Astrill VPN", Category: CategoryConsumer, Reported: true}}}
	fs := d.Evaluate(o, nil, nil)
	if len(fs) != 1 || fs[0].Rule != RuleVPNInstalled {
		t.Errorf("nil policy: %+v, want the VPN finding only", fs)
	}
	if fs := d.Evaluate(nil, nil, nil); len(fs) != 0 {
		t.Errorf("nil observation: %+v", fs)
	}
}

func TestDecodePolicy(t *testing.T) {
	t.Parallel()
	d := New()
	p, err := d.DecodePolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	def := p.(*Policy)
	if def.Samples != DefaultSamples || time.Duration(def.SampleTimeout) != DefaultSampleTimeout ||
		time.Duration(def.ProbeDeadline) != DefaultProbeDeadline || def.Concurrency != DefaultConcurrency || len(def.Landmarks) != 0 {
		t.Errorf("default policy %+v", def)
	}
	good := `{"expected_time_zones":["America/Chicago"],"samples":3,"sample_timeout":"500ms","probe_deadline":"5s","concurrency":2,
		"landmarks":[{"name":"chi","address":"lm-chi.corp.example:443","latitude":41.88,"longitude":-87.63}],
		"clients":[{"id":"acme_vpn","name":"Acme VPN","category":"consumer","processes":{"windows":["acmevpn.exe"]}}],
		"sanctioned":["acme_vpn","nordvpn"]}`
	p, err = d.DecodePolicy(json.RawMessage(good))
	if err != nil {
		t.Fatal(err)
	}
	pol := p.(*Policy)
	if _, ok := pol.catalogue().Client("acme_vpn"); !ok {
		t.Error("catalogue extension missing")
	}
	if _, ok := DefaultCatalogue().Client("acme_vpn"); ok {
		t.Error("the extension leaked into the shared default catalogue")
	}
	if s := pol.probeSettings(); s.samples != 3 || s.sampleTimeout != 500*time.Millisecond || s.deadline != 5*time.Second || s.concurrency != 2 {
		t.Errorf("probe settings %+v", s)
	}

	for _, tt := range []struct{ raw, want string }{
		{`{"expected_time_zone":["UTC"]}`, "unknown field"},
		{`{"expected_time_zones":["America/Chicgo"]}`, "America/Chicgo"},
		{`{"expected_time_zones":["Local"]}`, "Local"},
		{`{"landmarks":[{"name":"x","address":"example.net","latitude":0,"longitude":0}]}`, "host:port"},
		{`{"landmarks":[{"name":"x","address":"example.net:0","latitude":0,"longitude":0}]}`, "port"},
		{`{"landmarks":[{"name":"x","address":":443","latitude":0,"longitude":0}]}`, "empty host"},
		{`{"landmarks":[{"name":"x","address":"a:1","latitude":91,"longitude":0}]}`, "latitude"},
		{`{"landmarks":[{"name":"x","address":"a:1","latitude":0,"longitude":-180.5}]}`, "longitude"},
		{`{"landmarks":[{"name":"","address":"a:1","latitude":0,"longitude":0}]}`, "empty name"},
		{`{"landmarks":[{"name":"x","address":"a:1","latitude":0,"longitude":0},{"name":"x","address":"b:1","latitude":0,"longitude":0}]}`, "twice"},
		{`{"samples":21}`, "samples"},
		{`{"samples":-1}`, "samples"},
		{`{"sample_timeout":"1m"}`, "sample_timeout"},
		{`{"sample_timeout":5}`, "duration"},
		{`{"probe_deadline":"2m"}`, "probe_deadline"},
		{`{"concurrency":100}`, "concurrency"},
		{`{"sanctioned":["astril"]}`, "astril"},
		{`{"clients":[{"id":"nordvpn","name":"dup","category":"consumer","packages":["x"]}]}`, "used twice"},
		{`{"clients":[{"id":"x","name":"X","category":"shady","packages":["x"]}]}`, "category"},
		{`{"clients":[{"id":"x","name":"X","category":"consumer"}]}`, "no identifiers"},
		{`{"clients":[{"id":"x","name":"X","category":"consumer","paths":{"linux":["/opt/x"]}}]}`, "relative"},
		{`{"clients":[{"id":"x","name":"X","category":"consumer","processes":{"plan9":["x"]}}]}`, "unknown OS"},
		{`[]`, "cannot unmarshal"},
	} {
		if _, err := d.DecodePolicy(json.RawMessage(tt.raw)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodePolicy(%s) = %v, want an error about %q", tt.raw, err, tt.want)
		}
	}
}

func TestContribute(t *testing.T) {
	t.Parallel()
	o := &Observation{
		Schema:          Schema,
		TimeZone:        TimeZone{Name: "Asia/Seoul", UTCOffsetSeconds: 32400},
		Locale:          Setting{Value: "ko_KR"},
		KeyboardLayouts: []Setting{{Value: "us", Source: "a"}, {Value: "kr", Source: "b"}, {Value: "us", Source: "c"}},
		Tunnels:         []Tunnel{{Name: "tun0", Kind: "tun", Up: true}, {Name: "utun9", Kind: "utun", Up: false}},
		VPNClients: []VPNClient{
			{ID: "astrill", Name: "Astrill VPN", Category: CategoryConsumer, Running: true},
			{ID: "tailscale", Name: "Tailscale", Category: CategoryMesh},
		},
		Landmarks: []detectors.LandmarkRTT{{Name: "sel", Latitude: 37.57, Longitude: 126.98, RTTMS: 2.5, Samples: 5}},
		Network:   Network{GatewayMAC: "aa:bb:cc:dd:ee:ff", BSSIDs: []string{"11:22:33:44:55:66"}},
	}
	c := detectors.ReportContext{BSSIDs: []string{"from:colocation"}}
	o.Contribute(&c)
	g := c.Geo
	if g == nil || g.TimeZone != "Asia/Seoul" || g.UTCOffsetSeconds != 32400 || g.Locale != "ko_KR" {
		t.Fatalf("geo %+v", g)
	}
	if !slices.Equal(g.KeyboardLayouts, []string{"us", "kr"}) {
		t.Errorf("layouts %v", g.KeyboardLayouts)
	}
	if len(g.VPNInterfaces) != 1 || g.VPNInterfaces[0] != (detectors.VPNInterface{Name: "tun0", Kind: "tun"}) {
		t.Errorf("VPN interfaces %+v, want tun0 only (utun9 is down)", g.VPNInterfaces)
	}
	want := []detectors.VPNClient{
		{Name: "Astrill VPN", Category: "consumer", Running: true, Source: "process"},
		{Name: "Tailscale", Category: "mesh", Source: "installed"},
	}
	if !slices.Equal(g.VPNClients, want) {
		t.Errorf("clients %+v, want %+v", g.VPNClients, want)
	}
	if len(g.Landmarks) != 1 || g.Landmarks[0].RTTMS != 2.5 {
		t.Errorf("landmarks %+v", g.Landmarks)
	}
	if c.GatewayMAC != "aa:bb:cc:dd:ee:ff" || !slices.Equal(c.BSSIDs, []string{"from:colocation", "11:22:33:44:55:66"}) {
		t.Errorf("network identity %q %v", c.GatewayMAC, c.BSSIDs)
	}
	c2 := detectors.ReportContext{GatewayMAC: "kept:when:unknown"}
	(&Observation{}).Contribute(&c2)
	if c2.GatewayMAC != "kept:when:unknown" {
		t.Errorf("an unknown gateway overwrote another contributor's: %q", c2.GatewayMAC)
	}
}

func TestDecodeObservationSchema(t *testing.T) {
	t.Parallel()
	d := New()
	if _, err := d.DecodeObservation(json.RawMessage(`{"schema":"geodrift/v2"}`)); err == nil {
		t.Error("another schema decoded")
	}
	o, err := d.DecodeObservation(json.RawMessage(`{"time_zone":{"name":"UTC"}}`))
	if err != nil || o.(*Observation).Schema != Schema || o.(*Observation).TimeZone.Name != "UTC" {
		t.Errorf("decode without schema: %+v, %v", o, err)
	}
}

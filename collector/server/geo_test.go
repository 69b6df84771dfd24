package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/geo/geotest"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// proxyFront stands for a trusted reverse proxy in front of the agent
// port: it sets X-Forwarded-For to the public address a test gives each
// device (by the client certificate's subject), as seen from the internet.
type proxyFront struct {
	next http.Handler
	ips  sync.Map // device id → address
}

func (p *proxyFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		if ip, ok := p.ips.Load(r.TLS.PeerCertificates[0].Subject.CommonName); ok {
			r.Header.Set("X-Forwarded-For", "198.18.0.1, "+ip.(string))
		}
	}
	p.next.ServeHTTP(w, r)
}

// newGeoCollector is a real collector (SQLite, real TLS) with test GeoIP
// databases, a roster of owners living in Denver, and a trusted proxy in
// front that maps each device to a public address.
func newGeoCollector(t *testing.T) (*testCollector, *proxyFront) {
	t.Helper()
	front := &proxyFront{}
	c := newCollectorWith(t, collectorSetup{
		config: func(dir string, cfg *Config) {
			city, asn, err := geotest.Files(dir, geotest.FixtureCities, geotest.FixtureASNs)
			if err != nil {
				t.Fatal(err)
			}
			cfg.GeoIP.CityDB, cfg.GeoIP.ASNDB = city, asn
			cfg.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
		},
		seed: func(st store.Store) {
			var roster []store.RosterEntry
			for _, o := range []string{"home@corp.example", "astrill@corp.example", "relay@corp.example"} {
				roster = append(roster, store.RosterEntry{Owner: o, City: "Denver", Country: "US", Latitude: 39.7392, Longitude: -104.9903, TimeZone: "America/Denver"})
			}
			if err := st.ImportRoster(context.Background(), roster); err != nil {
				t.Fatal(err)
			}
		},
		front: func(h http.Handler) http.Handler { front.next = h; return front },
	})
	return c, front
}

// send delivers one scan report with geo signals and a gateway hash.
func (a *testAgent) send(t *testing.T, sig *detectors.GeoSignals, gateway string) {
	t.Helper()
	_, err := a.outbox.Submit(context.Background(), &transport.Report{
		Kind: transport.KindScan,
		Context: transport.ReportContext{
			Host: transport.HostContext{OS: "linux", Arch: "amd64", Hostname: "h"}, Network: transport.NetworkContext{GatewayHash: gateway}, Geo: sig,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := a.flush(t); n != 1 {
		t.Fatalf("delivered %d reports, want 1", n)
	}
}

func geoAlertsOf(t *testing.T, st store.Store, deviceID string, status ...store.AlertStatus) map[string]store.Alert {
	t.Helper()
	as, _, err := st.ListAlerts(context.Background(), store.AlertFilter{Kind: "geo", DeviceID: deviceID, Status: status}, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Alert{}
	for _, a := range as {
		out[strings.TrimPrefix(a.Key, "geo:"+deviceID+":")] = a
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Keyed network hashes as agents send them (32 hex digits).
const (
	gwHome  = "0123456789abcdef0123456789abcdef"
	gwFar   = "fedcba9876543210fedcba9876543210"
	gwRelay = "00112233445566778899aabbccddeeff"
)

var (
	denverTZ  = &detectors.GeoSignals{TimeZone: "America/Denver", UTCOffsetSeconds: -7 * 3600}
	chicagoLM = detectors.LandmarkRTT{Name: "chicago", Latitude: 41.8781, Longitude: -87.6298, RTTMS: 31, Samples: 3}
	tokyoLM   = detectors.LandmarkRTT{Name: "tokyo", Latitude: 35.6762, Longitude: 139.6503, RTTMS: 140, Samples: 3}
)

// TestGeoEndToEnd sends signed reports through real TLS and a trusted
// proxy, and checks the geo judgement, its findings, alerts and history:
// a laptop at home raises nothing; one behind an Astrill exit with a
// Chinese time zone raises hosting, distance and time-zone alerts that
// resolve once it reports from home again; one whose landmark round trips
// put it in East Asia while its IP claims Denver raises an impossible
// location.
func TestGeoEndToEnd(t *testing.T) {
	c, front := newGeoCollector(t)
	ctx := context.Background()

	home := c.enroll("LT-HOME", "home@corp.example")
	astrill := c.enroll("LT-ASTRILL", "astrill@corp.example")
	relay := c.enroll("LT-RELAY", "relay@corp.example")
	front.ips.Store(home.state.Enrollment.DeviceID, "81.2.69.7")
	front.ips.Store(astrill.state.Enrollment.DeviceID, "175.16.199.9")
	front.ips.Store(relay.state.Enrollment.DeviceID, "81.2.69.9")

	atHome := *denverTZ
	atHome.Landmarks = []detectors.LandmarkRTT{chicagoLM, tokyoLM}
	home.send(t, &atHome, gwHome)
	astrill.send(t, &detectors.GeoSignals{TimeZone: "Asia/Shanghai", UTCOffsetSeconds: 8 * 3600,
		VPNClients: []detectors.VPNClient{{Name: "Astrill VPN", Category: "consumer", Running: true, Source: "process"}}}, gwFar)
	relay.send(t, &detectors.GeoSignals{TimeZone: "America/Denver", UTCOffsetSeconds: -7 * 3600, Landmarks: []detectors.LandmarkRTT{
		{Name: "tokyo", Latitude: 35.6762, Longitude: 139.6503, RTTMS: 30, Samples: 3},
		{Name: "seoul", Latitude: 37.5665, Longitude: 126.9780, RTTMS: 25, Samples: 3},
	}}, gwRelay)

	// The laptop at home: located, judged, nothing raised.
	if got := geoAlertsOf(t, c.store, home.state.Enrollment.DeviceID); len(got) != 0 {
		t.Errorf("laptop at home raised %v", keys(got))
	}
	hs, err := c.store.GeoState(ctx, home.state.Enrollment.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Last.IP != "81.2.69.7" || hs.Last.City != "Denver" || hs.Last.ASN != 7922 || len(hs.Countries) != 1 || hs.Networks[0].Value != "gw:"+gwHome || hs.Active != nil {
		t.Errorf("home device history = %+v", hs)
	}

	// Astrill: alerts with their evidence, findings stored with the report.
	al := geoAlertsOf(t, c.store, astrill.state.Enrollment.DeviceID, store.AlertNew)
	if want := []string{geo.RuleFarFromHome, geo.RuleHostingASN, geo.RuleTimezoneMismatch}; !slices.Equal(keys(al), want) {
		t.Fatalf("Astrill device alerts = %v, want %v", keys(al), want)
	}
	var ev struct {
		Finding  detectors.Finding `json:"finding"`
		Owner    string            `json:"owner"`
		DeviceID string            `json:"device_id"`
	}
	if err := json.Unmarshal(al[geo.RuleHostingASN].Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	ipl, _ := ev.Finding.Evidence["ip_location"].(map[string]any)
	if ev.Owner != "astrill@corp.example" || ipl["ip"] != "175.16.199.9" || !strings.Contains(ipl["matched"].(string), "astrill") ||
		al[geo.RuleHostingASN].Severity != int(detectors.SeverityHigh) {
		t.Errorf("hosting alert evidence = %s", al[geo.RuleHostingASN].Evidence)
	}
	if err := json.Unmarshal(al[geo.RuleFarFromHome].Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if d := ev.Finding.Evidence["distance_km"].(float64); d < 2300 || d > 2500 {
		t.Errorf("Denver–Ashburn distance in evidence = %v km", d)
	}
	fs, _, err := c.store.ListFindings(ctx, store.FindingFilter{DeviceID: astrill.state.Enrollment.DeviceID}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 || fs[0].Detector != geo.Detector || fs[0].Seq != 1 {
		t.Errorf("stored findings = %+v", fs)
	}
	dev, err := c.store.GetDevice(ctx, astrill.state.Enrollment.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if dev.MaxSeverity != int(detectors.SeverityHigh) || dev.PublicIP != "175.16.199.9" {
		t.Errorf("device: max severity %d, public IP %s", dev.MaxSeverity, dev.PublicIP)
	}

	// The relay: the IP says Denver, the round trips say East Asia.
	rl := geoAlertsOf(t, c.store, relay.state.Enrollment.DeviceID)
	if !slices.Equal(keys(rl), []string{geo.RuleImpossibleLocation}) {
		t.Fatalf("relay alerts = %v", keys(rl))
	}
	if err := json.Unmarshal(rl[geo.RuleImpossibleLocation].Evidence, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Finding.Evidence["ip_excluded"] != true || ev.Finding.Evidence["home_excluded"] != true || len(ev.Finding.Evidence["landmarks"].([]any)) != 2 {
		t.Errorf("impossible location evidence = %v", ev.Finding.Evidence)
	}

	// The Astrill laptop comes home: its condition alerts resolve.
	front.ips.Store(astrill.state.Enrollment.DeviceID, "81.2.69.8")
	astrill.send(t, &atHome, gwFar)
	if open := geoAlertsOf(t, c.store, astrill.state.Enrollment.DeviceID, store.AlertNew, store.AlertAcknowledged); len(open) != 0 {
		t.Errorf("alerts still open after the device came home: %v", keys(open))
	}
	resolved := geoAlertsOf(t, c.store, astrill.state.Enrollment.DeviceID, store.AlertResolved)
	if len(resolved) != 3 || !strings.Contains(resolved[geo.RuleHostingASN].StatusReason, "no longer holds") {
		t.Errorf("resolved = %v", resolved)
	}
	as, err := c.store.GeoState(ctx, astrill.state.Enrollment.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if as.Active != nil || len(as.Countries) != 1 || as.Countries[0].Reports != 2 || as.Networks[0].Reports != 2 {
		t.Errorf("Astrill device history = %+v", as)
	}
}

// TestGeoHeartbeatJudgesIP: a heartbeat carries no geo signals but its
// address is judged, and the signal-based rules keep their state.
func TestGeoHeartbeatJudgesIP(t *testing.T) {
	c, front := newGeoCollector(t)
	a := c.enroll("LT-HB", "astrill@corp.example")
	front.ips.Store(a.state.Enrollment.DeviceID, "175.16.199.9")
	if _, err := a.outbox.Submit(context.Background(), &transport.Report{Kind: transport.KindHeartbeat}); err != nil {
		t.Fatal(err)
	}
	a.flush(t)
	got := geoAlertsOf(t, c.store, a.state.Enrollment.DeviceID)
	if !slices.Equal(keys(got), []string{geo.RuleFarFromHome, geo.RuleHostingASN}) {
		t.Errorf("heartbeat alerts = %v", keys(got))
	}
}

func TestGeoIPConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := Initialize(context.Background(), InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.GeoOptions()
	if err != nil {
		t.Fatalf("the collector.yaml init writes: %v", err)
	}
	if o.FarKM != 500 || o.HostingASNs[9009] == "" || o.LearningPeriod != 7*24*time.Hour || o.Severities[geo.RuleHostingASN] != detectors.SeverityHigh {
		t.Errorf("defaults = %+v", o)
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"asn", "geoip:\n  hosting_asns: [AS9009, 14061, ASX]\n", `"ASX" is not an AS number`},
		{"cidr", "geoip:\n  exempt_cidrs: [10.0.0.0/33]\n", "geoip.exempt_cidrs"},
		{"rule", "geoip:\n  severities: {geo.nope: high}\n", `unknown rule "geo.nope"`},
		{"severity", "geoip:\n  severities: {geo.hosting_asn: loud}\n", "geoip.severities.geo.hosting_asn"},
		{"far", "geoip:\n  far_km: -1\n", "geoip.far_km"},
		{"alert min", "geoip:\n  alert_min_severity: urgent\n", "geoip.alert_min_severity"},
		{"unknown key", "geoip:\n  city: x.mmdb\n", "field city not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "collector.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadConfig = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "collector.yaml")
	if err := os.WriteFile(p, []byte("geoip:\n  hosting_asns: [AS64512]\n  default_hosting_asns: false\n  severities: {geo.new_network: off, geo.far_from_home: high}\n  city_db: GeoLite2-City.mmdb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	o, err = cfg.GeoOptions()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.HostingASNs) != 1 || o.HostingASNs[64512] == "" || !o.Disabled[geo.RuleNewNetwork] || o.Severities[geo.RuleFarFromHome] != detectors.SeverityHigh ||
		cfg.GeoIP.CityDB != filepath.Join(filepath.Dir(p), "GeoLite2-City.mmdb") {
		t.Errorf("options = %+v, city_db %s", o, cfg.GeoIP.CityDB)
	}
}

// TestGeoIPStartup: a configured database that is missing or corrupt
// stops the collector with the file's name; none configured runs with the
// rules off and says so in /metrics.
func TestGeoIPStartup(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	for _, st := range c.srv.geo.Status() {
		if st.Loaded {
			t.Errorf("a database is loaded without configuration: %+v", st)
		}
	}
	if v := gauge(t, c.srv, "farmwatch_geoip_database_loaded", "city"); v != 0 {
		t.Errorf("farmwatch_geoip_database_loaded{kind=city} = %v, want 0", v)
	}
	cfg := *c.cfg
	cfg.GeoIP.CityDB = filepath.Join(c.dir, "missing.mmdb")
	if _, err := New(&cfg, c.store, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "missing.mmdb") {
		t.Errorf("New with a missing database = %v", err)
	}
	bad := filepath.Join(c.dir, "bad.mmdb")
	if err := os.WriteFile(bad, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.GeoIP.CityDB = bad
	if _, err := New(&cfg, c.store, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "bad.mmdb") {
		t.Errorf("New with a corrupt database = %v", err)
	}
	city, asn, err := geotest.Files(c.dir, geotest.FixtureCities, geotest.FixtureASNs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.GeoIP.CityDB, cfg.GeoIP.ASNDB = city, asn
	srv, err := New(&cfg, c.store, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, srv, "farmwatch_geoip_database_loaded", "asn"); v != 1 {
		t.Errorf("farmwatch_geoip_database_loaded{kind=asn} = %v, want 1", v)
	}
	if v := gauge(t, srv, "farmwatch_geoip_database_build_timestamp_seconds", "city"); v != geotest.BuildEpoch {
		t.Errorf("build timestamp = %v", v)
	}
}

func gauge(t *testing.T, s *Server, name, kind string) float64 {
	t.Helper()
	mfs, err := s.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{kind=%q}", name, kind)
	return 0
}

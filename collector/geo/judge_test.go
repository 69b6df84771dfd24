package geo

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

var now = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func loc(ip string, lat, lon, acc float64, country string) Location {
	return Location{IP: netip.MustParseAddr(ip), Country: country, HasCoords: true, Latitude: lat, Longitude: lon, AccuracyKM: acc}
}

func home(lat, lon float64, country string) *Home {
	return &Home{Owner: "alice@corp.example", City: "Home", Country: country, HasCoords: true, Latitude: lat, Longitude: lon}
}

func lm(name string, lat, lon, rtt float64) detectors.LandmarkRTT {
	return detectors.LandmarkRTT{Name: name, Latitude: lat, Longitude: lon, RTTMS: rtt, Samples: 3}
}

func opts(mutate func(*Options)) Options {
	o := Options{HostingASNs: DefaultHostingASNMap(), HostingOrgPatterns: DefaultHostingOrgPatterns}
	if mutate != nil {
		mutate(&o)
	}
	return o.WithDefaults()
}

// zeroErr grants no error margins, so distances compare exactly.
func zeroErr(o *Options) { o.HomeErrorKM, o.LandmarkErrorKM = -1, -1 }

func fixErr(o Options) Options {
	if o.HomeErrorKM < 0 {
		o.HomeErrorKM = 0
	}
	if o.LandmarkErrorKM < 0 {
		o.LandmarkErrorKM = 0
	}
	return o
}

func finding(t *testing.T, v Verdict, rule string) *detectors.Finding {
	t.Helper()
	for i := range v.Findings {
		if v.Findings[i].Rule == rule {
			return &v.Findings[i]
		}
	}
	return nil
}

func TestDistanceKM(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tol              float64
	}{
		{"same point", 39.7392, -104.9903, 39.7392, -104.9903, 0, 0},
		{"one degree on the equator", 0, 0, 0, 1, 111.195, 0.001},
		{"London to Paris", 51.5074, -0.1278, 48.8566, 2.3522, 343.6, 1},
		{"Denver to Chicago", 39.7392, -104.9903, 41.8781, -87.6298, 1477, 3},
		{"antipodes", 0, 0, 0, 180, math.Pi * 6371.0088, 0.001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := DistanceKM(tc.lat1, tc.lon1, tc.lat2, tc.lon2); math.Abs(got-tc.want) > tc.tol {
				t.Errorf("DistanceKM = %.3f, want %.3f ± %.3f", got, tc.want, tc.tol)
			}
		})
	}
	if r := FeasibleRadiusKM(10); r != 1000 {
		t.Errorf("FeasibleRadiusKM(10) = %v, want 1000 (10 ms round trip: 5 ms each way at 200 km/ms)", r)
	}
}

func TestFarFromHome(t *testing.T) {
	t.Parallel()
	d5 := DistanceKM(0, 0, 0, 5) // 555.97 km
	tests := []struct {
		name   string
		loc    Location
		home   *Home
		mutate func(*Options)
		fire   bool
		judged bool
	}{
		{"near home", loc("81.2.69.1", 0, 1, 10, "US"), home(0, 0, "US"), nil, false, true},
		{"556 km, no margins", loc("81.2.69.1", 0, 5, 0, "US"), home(0, 0, "US"), zeroErr, true, true},
		{"accuracy radius straddles the threshold", loc("81.2.69.1", 0, 5, 100, "US"), home(0, 0, "US"), zeroErr, false, true},
		{"home error straddles the threshold", loc("81.2.69.1", 0, 5, 0, "US"), home(0, 0, "US"), func(o *Options) { o.HomeErrorKM = 60 }, false, true},
		{"exactly at the threshold is not far", loc("81.2.69.1", 0, 5, 50, "US"), home(0, 0, "US"), func(o *Options) { zeroErr(o); o.FarKM = d5 - 50 }, false, true},
		{"just over the threshold", loc("81.2.69.1", 0, 5, 50, "US"), home(0, 0, "US"), func(o *Options) { zeroErr(o); o.FarKM = d5 - 50 - 0.01 }, true, true},
		{"abroad is other_country's finding", loc("81.2.69.1", 0, 20, 0, "CN"), home(0, 0, "US"), nil, false, true},
		{"abroad with other_country off", loc("81.2.69.1", 0, 20, 0, "CN"), home(0, 0, "US"), func(o *Options) { o.Disabled = map[string]bool{RuleOtherCountry: true} }, true, true},
		{"unknown owner", loc("81.2.69.1", 0, 20, 0, "US"), nil, nil, false, false},
		{"home without coordinates", loc("81.2.69.1", 0, 20, 0, "US"), &Home{Owner: "a", Country: "US"}, nil, false, false},
		{"IP without coordinates", Location{IP: netip.MustParseAddr("81.2.69.1"), Country: "US"}, home(0, 0, "US"), nil, false, false},
		{"exempt egress", loc("81.2.69.1", 0, 20, 0, "US"), home(0, 0, "US"), func(o *Options) { o.ExemptPrefixes = []netip.Prefix{netip.MustParsePrefix("81.2.69.0/24")} }, false, false},
		{"disabled", loc("81.2.69.1", 0, 20, 0, "US"), home(0, 0, "US"), func(o *Options) { o.Disabled = map[string]bool{RuleFarFromHome: true} }, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Judge(Input{DeviceID: "fw-1", Now: now, Loc: tc.loc, Home: tc.home}, fixErr(opts(tc.mutate)))
			f := finding(t, v, RuleFarFromHome)
			if (f != nil) != tc.fire {
				t.Fatalf("fired = %v, want %v (findings %+v)", f != nil, tc.fire, v.Findings)
			}
			if got := slices.Contains(v.Judged, RuleFarFromHome); got != tc.judged {
				t.Errorf("judged = %v, want %v", got, tc.judged)
			}
			if f == nil {
				return
			}
			if err := f.Validate(); err != nil {
				t.Error(err)
			}
			if f.Severity != detectors.SeverityMedium || f.ObservedAt != now || f.ID != detectors.FindingID(RuleFarFromHome, "fw-1") {
				t.Errorf("finding = %+v", f)
			}
			want := math.Round(DistanceKM(tc.home.Latitude, tc.home.Longitude, tc.loc.Latitude, tc.loc.Longitude))
			if f.Evidence["distance_km"] != want {
				t.Errorf("evidence distance_km = %v, want %v", f.Evidence["distance_km"], want)
			}
			for _, k := range []string{"min_distance_km", "threshold_km", "accuracy_radius_km", "home", "ip_location"} {
				if _, ok := f.Evidence[k]; !ok {
					t.Errorf("evidence lacks %s: %v", k, f.Evidence)
				}
			}
		})
	}
}

func TestOtherCountry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		loc    Location
		home   *Home
		fire   bool
		judged bool
	}{
		{"same country", loc("81.2.69.1", 0, 1, 10, "US"), home(0, 0, "US"), false, true},
		{"other country next door", loc("81.2.69.1", 0, 0.1, 10, "CA"), home(0, 0, "US"), true, true},
		{"IP country unknown", Location{IP: netip.MustParseAddr("81.2.69.1")}, home(0, 0, "US"), false, false},
		{"country-only record still judged", Location{IP: netip.MustParseAddr("81.2.69.1"), Country: "KP"}, home(0, 0, "US"), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Judge(Input{DeviceID: "fw-1", Now: now, Loc: tc.loc, Home: tc.home}, opts(nil))
			f := finding(t, v, RuleOtherCountry)
			if (f != nil) != tc.fire || slices.Contains(v.Judged, RuleOtherCountry) != tc.judged {
				t.Fatalf("fired = %v judged = %v, want %v %v", f != nil, v.Judged, tc.fire, tc.judged)
			}
			if f != nil && (f.Severity != detectors.SeverityHigh || !strings.Contains(f.Summary, tc.loc.Country)) {
				t.Errorf("finding = %+v", f)
			}
		})
	}
}

func TestHostingASN(t *testing.T) {
	t.Parallel()
	asn := func(n uint32, org string) Location {
		return Location{IP: netip.MustParseAddr("175.16.199.9"), Country: "US", ASN: n, ASOrg: org}
	}
	tests := []struct {
		name    string
		loc     Location
		mutate  func(*Options)
		fire    bool
		judged  bool
		matched string
	}{
		{"residential ISP", asn(7922, "Comcast Cable Communications, LLC"), nil, false, true, ""},
		{"listed ASN", asn(14061, "DIGITALOCEAN-ASN"), nil, true, true, "AS14061 is on the hosting/VPN list"},
		{"Astrill by organisation", asn(64512, "Astrill Systems Corp"), nil, true, true, `matches "astrill"`},
		{"organisation pattern is case-insensitive", asn(64513, "Example DataCenter Ltd"), nil, true, true, `matches "datacenter"`},
		{"allowed ASN wins", asn(14061, "DIGITALOCEAN-ASN"), func(o *Options) { o.AllowedASNs = map[uint32]bool{14061: true} }, false, true, ""},
		{"configured ASN", asn(4242, "Some Transit"), func(o *Options) { o.HostingASNs = map[uint32]string{4242: "intel feed"} }, true, true, "intel feed"},
		{"exempt egress", asn(14061, "DIGITALOCEAN-ASN"), func(o *Options) {
			o.ExemptPrefixes = []netip.Prefix{netip.MustParsePrefix("175.16.199.0/24")}
		}, false, true, ""},
		{"no ASN data", Location{IP: netip.MustParseAddr("175.16.199.9")}, nil, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Judge(Input{DeviceID: "fw-1", Now: now, Loc: tc.loc}, opts(tc.mutate))
			f := finding(t, v, RuleHostingASN)
			if (f != nil) != tc.fire || slices.Contains(v.Judged, RuleHostingASN) != tc.judged {
				t.Fatalf("fired = %v judged = %v, want %v %v", f != nil, v.Judged, tc.fire, tc.judged)
			}
			if f == nil {
				return
			}
			ip := f.Evidence["ip_location"].(map[string]any)
			if m, _ := ip["matched"].(string); !strings.Contains(m, tc.matched) {
				t.Errorf("matched = %q, want it to contain %q", m, tc.matched)
			}
			if ip["asn"] != tc.loc.ASN || !slices.Contains(f.MITRE, "T1090") {
				t.Errorf("evidence = %v, mitre %v", f.Evidence, f.MITRE)
			}
		})
	}
}

func TestImpossibleLocation(t *testing.T) {
	t.Parallel()
	d10 := DistanceKM(0, 0, 0, 10) // 1111.95 km
	ip10 := func(acc float64) Location { return loc("175.16.199.9", 0, 10, acc, "US") }
	tokyo, seoul := lm("tokyo", 35.6762, 139.6503, 30), lm("seoul", 37.5665, 126.9780, 25)
	denver := home(39.7392, -104.9903, "US")
	tests := []struct {
		name              string
		loc               Location
		home              *Home
		lms               []detectors.LandmarkRTT
		mutate            func(*Options)
		fire, judged      bool
		ipExcl, homeExcl  bool
		wantLandmarkNames []string
	}{
		{"IP within the bound", ip10(0), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 12)}, zeroErr, false, true, false, false, nil},
		{"IP beyond the bound: relay", ip10(0), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 10)}, zeroErr, true, true, true, false, []string{"a"}},
		{"accuracy radius straddles the bound", ip10(120), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 10)}, zeroErr, false, true, false, false, nil},
		{"accuracy radius inside the gap", ip10(100), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 10)}, zeroErr, true, true, true, false, nil},
		{"exactly at the bound is possible", ip10(d10 - 1000), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 10)}, zeroErr, false, true, false, false, nil},
		{"landmark error straddles the bound", ip10(0), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 10)}, func(o *Options) { o.LandmarkErrorKM = 120 }, false, true, false, false, nil},
		{"home excluded by two landmarks", Location{}, home(0, 20, "US"),
			[]detectors.LandmarkRTT{lm("a", 0, 0, 8), lm("b", 0, 12, 8)}, nil, true, true, false, true, []string{"a", "b"}},
		{"home excluded by one landmark of two needed", Location{}, home(0, 20, "US"),
			[]detectors.LandmarkRTT{lm("a", 0, 0, 8), lm("b", 0, 12, 14)}, nil, false, true, false, false, nil},
		{"one landmark alone is not enough for the home", Location{}, home(0, 20, "US"),
			[]detectors.LandmarkRTT{lm("a", 0, 0, 8)}, nil, false, true, false, false, nil},
		{"one landmark is enough when configured", Location{}, home(0, 20, "US"),
			[]detectors.LandmarkRTT{lm("a", 0, 0, 8)}, func(o *Options) { o.HomeMinLandmarks = 1 }, true, true, false, true, nil},
		{"laptop in Asia behind a Denver line", loc("81.2.69.1", 39.7392, -104.9903, 20, "US"), denver,
			[]detectors.LandmarkRTT{tokyo, seoul}, nil, true, true, true, true, []string{"tokyo", "seoul"}},
		{"laptop at home in Denver", loc("81.2.69.1", 39.7392, -104.9903, 20, "US"), denver,
			[]detectors.LandmarkRTT{lm("tokyo", 35.6762, 139.6503, 140), lm("chicago", 41.8781, -87.6298, 30)}, nil, false, true, false, false, nil},
		{"bounds exclude each other: TCP answered locally", ip10(0), denver,
			[]detectors.LandmarkRTT{lm("a", 0, 0, 1), lm("b", 0, 40, 1)}, nil, false, false, false, false, nil},
		{"failed and empty landmarks are ignored", ip10(0), nil,
			[]detectors.LandmarkRTT{{Name: "x", Latitude: 0, Longitude: 0, RTTMS: 0}, {Name: "y", Latitude: 0, Longitude: 0, RTTMS: 1, Error: "timeout"}, {Name: "z", Latitude: 95, Longitude: 0, RTTMS: 1}},
			nil, false, false, false, false, nil},
		{"exempt IP: only the home is judged", ip10(0), nil, []detectors.LandmarkRTT{lm("a", 0, 0, 10)},
			func(o *Options) { o.ExemptPrefixes = []netip.Prefix{netip.MustParsePrefix("175.16.0.0/16")} }, false, false, false, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := Input{DeviceID: "fw-1", Now: now, Loc: tc.loc, Home: tc.home, Signals: &detectors.GeoSignals{Landmarks: tc.lms}}
			v := Judge(in, fixErr(opts(tc.mutate)))
			f := finding(t, v, RuleImpossibleLocation)
			if (f != nil) != tc.fire || slices.Contains(v.Judged, RuleImpossibleLocation) != tc.judged {
				t.Fatalf("fired = %v judged = %v, want %v %v (findings %+v)", f != nil, v.Judged, tc.fire, tc.judged, v.Findings)
			}
			if f == nil {
				return
			}
			if f.Evidence["ip_excluded"] != tc.ipExcl || f.Evidence["home_excluded"] != tc.homeExcl {
				t.Errorf("ip_excluded %v home_excluded %v, want %v %v", f.Evidence["ip_excluded"], f.Evidence["home_excluded"], tc.ipExcl, tc.homeExcl)
			}
			rows := f.Evidence["landmarks"].([]map[string]any)
			if len(rows) != len(tc.lms) {
				t.Fatalf("landmark rows = %d, want %d", len(rows), len(tc.lms))
			}
			for i, r := range rows {
				if r["feasible_radius_km"] != math.Round(tc.lms[i].RTTMS*100) || r["rtt_ms"] != tc.lms[i].RTTMS {
					t.Errorf("row %d = %v", i, r)
				}
			}
			for _, n := range tc.wantLandmarkNames {
				if !strings.Contains(f.Summary, n) {
					t.Errorf("summary does not name landmark %s: %s", n, f.Summary)
				}
			}
			if f.Severity != detectors.SeverityHigh {
				t.Errorf("severity %v", f.Severity)
			}
		})
	}
}

func TestDrift(t *testing.T) {
	t.Parallel()
	base := Baseline{
		FirstSeen: now.Add(-30 * 24 * time.Hour),
		Countries: []Seen{{Value: "US", FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now.Add(-time.Hour), Reports: 40}},
		Networks: []Seen{
			{Value: "gw:aaa", FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now.Add(-time.Hour), Reports: 40},
			{Value: "bssid:b1", FirstSeen: now.Add(-20 * 24 * time.Hour), LastSeen: now.Add(-2 * time.Hour), Reports: 10},
		},
	}
	learning := base
	learning.FirstSeen = now.Add(-6 * 24 * time.Hour)
	justLearnt := base
	justLearnt.FirstSeen = now.Add(-DefaultLearningPeriod)
	us, cn := loc("81.2.69.1", 0, 0, 10, "US"), loc("202.196.224.1", 0, 0, 10, "CN")
	tests := []struct {
		name           string
		base           Baseline
		loc            Location
		nets           []string
		country, netwk bool
	}{
		{"known country and network", base, us, []string{"gw:aaa"}, false, false},
		{"new country", base, cn, []string{"gw:aaa"}, true, false},
		{"new network", base, us, []string{"gw:zzz", "bssid:b9"}, false, true},
		{"one known BSSID is a known network", base, us, []string{"gw:zzz", "bssid:b1"}, false, false},
		{"no network identity", base, us, nil, false, false},
		{"new device learns", Baseline{}, cn, []string{"gw:zzz"}, false, false},
		{"still learning", learning, cn, []string{"gw:zzz"}, false, false},
		{"learning just over", justLearnt, cn, []string{"gw:zzz"}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := Judge(Input{DeviceID: "fw-1", Now: now, Loc: tc.loc, Networks: tc.nets, Baseline: tc.base}, opts(nil))
			fc, fn := finding(t, v, RuleNewCountry), finding(t, v, RuleNewNetwork)
			if (fc != nil) != tc.country || (fn != nil) != tc.netwk {
				t.Fatalf("new_country %v new_network %v, want %v %v", fc != nil, fn != nil, tc.country, tc.netwk)
			}
			if slices.Contains(v.Judged, RuleNewCountry) || slices.Contains(v.Judged, RuleNewNetwork) {
				t.Errorf("event rules listed as judged: %v", v.Judged)
			}
			if fc != nil {
				if fc.Evidence["country"] != "CN" || len(fc.Evidence["known_countries"].([]map[string]any)) != 1 || fc.Severity != detectors.SeverityMedium {
					t.Errorf("new_country = %+v", fc)
				}
			}
			if fn != nil {
				last := fn.Evidence["last_known_network"].(map[string]any)
				if last["id"] != "gw:aaa" || fn.Evidence["known_networks"] != 2 || fn.Severity != detectors.SeverityLow {
					t.Errorf("new_network evidence = %v", fn.Evidence)
				}
			}
		})
	}
}

func TestTimezoneMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, zone, country string
		fire, judged        bool
	}{
		{"zone of the IP's country", "America/Denver", "US", false, true},
		{"Shanghai time in the US", "Asia/Shanghai", "US", true, true},
		{"Pyongyang time in the US", "Asia/Pyongyang", "US", true, true},
		{"alias of a US zone", "US/Eastern", "US", false, true},
		{"old alias of an Indian zone", "Asia/Calcutta", "US", true, true},
		{"zone shared by several countries", "Europe/Berlin", "DK", false, true},
		{"UTC says nothing", "Etc/UTC", "US", false, false},
		{"unknown zone", "Mars/Olympus_Mons", "US", false, false},
		{"no zone reported", "", "US", false, false},
		{"IP country unknown", "Asia/Shanghai", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := Input{DeviceID: "fw-1", Now: now, Loc: Location{IP: netip.MustParseAddr("81.2.69.1"), Country: tc.country},
				Signals: &detectors.GeoSignals{TimeZone: tc.zone, UTCOffsetSeconds: 8 * 3600}}
			v := Judge(in, opts(nil))
			f := finding(t, v, RuleTimezoneMismatch)
			if (f != nil) != tc.fire || slices.Contains(v.Judged, RuleTimezoneMismatch) != tc.judged {
				t.Fatalf("fired = %v judged = %v, want %v %v", f != nil, v.Judged, tc.fire, tc.judged)
			}
			if f != nil && (f.Evidence["time_zone"] != tc.zone || len(f.Evidence["zone_countries"].([]string)) == 0) {
				t.Errorf("evidence = %v", f.Evidence)
			}
		})
	}
}

func TestZoneCountries(t *testing.T) {
	t.Parallel()
	for zone, want := range map[string][]string{
		"America/Chicago": {"US"},
		"Asia/Shanghai":   {"CN"},
		"Asia/Kolkata":    {"IN"},
		"Asia/Calcutta":   {"IN"},
		"US/Eastern":      {"US"},
		"Europe/Berlin":   {"DE", "DK", "NO", "SE", "SJ"},
		"Etc/UTC":         nil,
	} {
		if got := ZoneCountries(zone); !slices.Equal(got, want) {
			t.Errorf("ZoneCountries(%s) = %v, want %v", zone, got, want)
		}
	}
	// Every zone Go knows that a country uses has an entry.
	for _, z := range []string{"America/New_York", "Europe/Kyiv", "Europe/Kiev", "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo"} {
		if len(ZoneCountries(z)) == 0 {
			t.Errorf("ZoneCountries(%s) is empty", z)
		}
	}
}

func TestSeveritiesAndDisabled(t *testing.T) {
	t.Parallel()
	in := Input{DeviceID: "fw-1", Now: now, Loc: Location{IP: netip.MustParseAddr("175.16.199.9"), Country: "CN", ASN: 14061, ASOrg: "DIGITALOCEAN-ASN"}, Home: home(0, 0, "US")}
	v := Judge(in, opts(func(o *Options) {
		o.Severities = map[string]detectors.Severity{RuleHostingASN: detectors.SeverityCritical}
		o.Disabled = map[string]bool{RuleOtherCountry: true}
	}))
	if f := finding(t, v, RuleHostingASN); f == nil || f.Severity != detectors.SeverityCritical {
		t.Errorf("hosting_asn = %+v, want critical", f)
	}
	if finding(t, v, RuleOtherCountry) != nil || slices.Contains(v.Judged, RuleOtherCountry) {
		t.Errorf("disabled other_country fired or was judged: %+v", v)
	}
	for _, f := range v.Findings {
		if err := f.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	if err := opts(nil).Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, mutate := range map[string]func(*Options){
		"far_km":        func(o *Options) { o.FarKM = -5 },
		"unknown rule":  func(o *Options) { o.Severities = map[string]detectors.Severity{"geo.nope": 1} },
		"disabled rule": func(o *Options) { o.Disabled = map[string]bool{"geo.nope": true} },
		"landmarks":     func(o *Options) { o.HomeMinLandmarks = -1 },
	} {
		o := opts(mutate)
		if err := o.Validate(); err == nil {
			t.Errorf("%s: no error for %+v", name, o)
		}
	}
}

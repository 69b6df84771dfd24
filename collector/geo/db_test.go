package geo_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/geo/geotest"
)

func fixtureDB(t testing.TB) (*geo.DB, string, string) {
	t.Helper()
	city, asn, err := geotest.Files(t.TempDir(), geotest.FixtureCities, geotest.FixtureASNs)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	return db, city, asn
}

func TestLookup(t *testing.T) {
	t.Parallel()
	db, _, _ := fixtureDB(t)
	tests := []struct {
		ip   string
		want geo.Location
	}{
		{"81.2.69.7", geo.Location{Country: "US", City: "Denver", HasCoords: true, Latitude: 39.7392, Longitude: -104.9903, AccuracyKM: 20, TimeZone: "America/Denver", ASN: 7922, ASOrg: "Comcast Cable Communications, LLC"}},
		{"::ffff:175.16.199.1", geo.Location{Country: "US", City: "Ashburn", HasCoords: true, Latitude: 39.0438, Longitude: -77.4874, AccuracyKM: 20, TimeZone: "America/New_York", ASN: 64512, ASOrg: "Astrill Systems Corp"}},
		{"202.196.239.255", geo.Location{Country: "CN", City: "Shenyang", HasCoords: true, Latitude: 41.8057, Longitude: 123.4315, AccuracyKM: 50, TimeZone: "Asia/Shanghai", ASN: 4837, ASOrg: "CHINA UNICOM China169 Backbone"}},
		{"8.8.8.8", geo.Location{}},
		{"10.1.2.3", geo.Location{}},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			t.Parallel()
			got, err := db.Lookup(netip.MustParseAddr(tc.ip))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.IP = netip.MustParseAddr(tc.ip).Unmap()
			if got != tc.want {
				t.Errorf("Lookup = %+v\nwant     %+v", got, tc.want)
			}
			if got.Located() != (tc.want.Country != "") {
				t.Errorf("Located = %v", got.Located())
			}
		})
	}
}

func TestLookupCountryOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	city, asn, err := geotest.Files(dir, []geotest.City{{Network: "5.5.5.0/24", Country: "KP", NoCoords: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Lookup(netip.MustParseAddr("5.5.5.5"))
	if err != nil || got.Country != "KP" || got.HasCoords {
		t.Errorf("Lookup = %+v, %v; want KP without coordinates", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	city, asn, err := geotest.Files(dir, geotest.FixtureCities, geotest.FixtureASNs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(city)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	if err := os.WriteFile(truncated, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	bad := append([]byte(nil), data...)
	for i := 0; i < len(bad)/2; i++ {
		bad[i] = 0xff
	}
	if err := os.WriteFile(corrupt, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, city, asn, want string
	}{
		{"missing city file", filepath.Join(dir, "nope.mmdb"), "", "geoip city database"},
		{"truncated", truncated, asn, truncated},
		{"garbage", "", garbage, "not a MaxMind DB file"},
		{"corrupt tree", corrupt, "", "corrupt"},
		{"ASN file as city", asn, "", "want a City database"},
		{"city file as ASN", "", city, "want an ASN database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, err := geo.Open(tc.city, tc.asn)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, %v; want an error containing %q", db, err, tc.want)
			}
		})
	}
}

func TestNoDatabases(t *testing.T) {
	t.Parallel()
	db, err := geo.Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	if db.HasCity() || db.HasASN() {
		t.Error("a database is loaded without a path")
	}
	loc, err := db.Lookup(netip.MustParseAddr("81.2.69.7"))
	if err != nil || loc.Located() || loc.ASN != 0 {
		t.Errorf("Lookup = %+v, %v", loc, err)
	}
	for _, s := range db.Status() {
		if s.Loaded {
			t.Errorf("status %+v", s)
		}
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	db, city, _ := fixtureDB(t)
	ip := netip.MustParseAddr("81.2.69.7")
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	if changed, err := db.Reload(now); err != nil || len(changed) != 0 {
		t.Fatalf("Reload of unchanged files = %v, %v", changed, err)
	}
	// MaxMind's weekly update: the record moves to Boulder.
	moved := geotest.Denver
	moved.City, moved.Latitude, moved.Longitude = "Boulder", 40.015, -105.2705
	data, err := geotest.CityDB([]geotest.City{moved})
	if err != nil {
		t.Fatal(err)
	}
	replace(t, city, data)
	changed, err := db.Reload(now)
	if err != nil || len(changed) != 1 || changed[0] != geo.KindCity {
		t.Fatalf("Reload = %v, %v; want [city]", changed, err)
	}
	if loc, _ := db.Lookup(ip); loc.City != "Boulder" || loc.ASN != 7922 {
		t.Errorf("after reload: %+v", loc)
	}
	st := db.Status()
	if !st[0].Loaded || !st[0].LoadedAt.Equal(now) || st[0].BuildTime.Unix() != geotest.BuildEpoch || st[0].DatabaseType != "FarmwatchTest-City" {
		t.Errorf("status = %+v", st[0])
	}
	// A broken update keeps the previous file in service.
	replace(t, city, []byte("half a download"))
	if _, err := db.Reload(now); err == nil || !strings.Contains(err.Error(), city) {
		t.Fatalf("Reload of a broken file = %v", err)
	}
	if loc, _ := db.Lookup(ip); loc.City != "Boulder" {
		t.Errorf("after a failed reload: %+v", loc)
	}
}

// replace swaps a file by rename, as geoipupdate does, with a modification
// time that differs from the previous one.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mt := fi.ModTime().Add(time.Minute)
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

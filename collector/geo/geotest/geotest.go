// Package geotest writes MaxMind DB files for tests: a City and an ASN
// database with the records a test names, built with MaxMind's own
// writer (github.com/maxmind/mmdbwriter) so that no binary database is
// committed. Test helpers only; nothing here runs in the collector.
package geotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one City database record.
type City struct {
	// Network is a CIDR ("81.2.69.0/24").
	Network        string
	Country        string
	City           string
	Latitude       float64
	Longitude      float64
	AccuracyRadius uint16
	TimeZone       string
	// NoCoords leaves the location's latitude and longitude out (a
	// country-only record).
	NoCoords bool
}

// ASN is one ASN database record.
type ASN struct {
	Network string
	Number  uint32
	Org     string
}

// BuildEpoch is the build time written into test databases.
const BuildEpoch = 1767225600 // 2026-01-01T00:00:00Z

// CityDB returns the bytes of a City database (database type
// "FarmwatchTest-City") holding records in GeoIP2-City layout.
func CityDB(records []City) ([]byte, error) {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "FarmwatchTest-City", RecordSize: 28, BuildEpoch: BuildEpoch, Languages: []string{"en"},
		Description: map[string]string{"en": "farmwatch test City database"}})
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		_, n, err := net.ParseCIDR(r.Network)
		if err != nil {
			return nil, fmt.Errorf("city record %s: %w", r.Network, err)
		}
		loc := mmdbtype.Map{"accuracy_radius": mmdbtype.Uint16(r.AccuracyRadius)}
		if !r.NoCoords {
			loc["latitude"], loc["longitude"] = mmdbtype.Float64(r.Latitude), mmdbtype.Float64(r.Longitude)
		}
		if r.TimeZone != "" {
			loc["time_zone"] = mmdbtype.String(r.TimeZone)
		}
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(r.Country), "names": mmdbtype.Map{"en": mmdbtype.String(r.Country)}},
			"location": loc,
		}
		if r.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(r.City), "de": mmdbtype.String(r.City)}}
		}
		if err := w.Insert(n, rec); err != nil {
			return nil, fmt.Errorf("city record %s: %w", r.Network, err)
		}
	}
	return serialise(w)
}

// ASNDB returns the bytes of an ASN database (database type
// "FarmwatchTest-ASN") in GeoLite2-ASN layout.
func ASNDB(records []ASN) ([]byte, error) {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "FarmwatchTest-ASN", RecordSize: 24, BuildEpoch: BuildEpoch,
		Description: map[string]string{"en": "farmwatch test ASN database"}})
	if err != nil {
		return nil, err
	}
	for _, r := range records {
		_, n, err := net.ParseCIDR(r.Network)
		if err != nil {
			return nil, fmt.Errorf("asn record %s: %w", r.Network, err)
		}
		if err := w.Insert(n, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(r.Number),
			"autonomous_system_organization": mmdbtype.String(r.Org),
		}); err != nil {
			return nil, fmt.Errorf("asn record %s: %w", r.Network, err)
		}
	}
	return serialise(w)
}

func serialise(w *mmdbwriter.Tree) ([]byte, error) {
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Files writes both databases into dir as city.mmdb and asn.mmdb and
// returns their paths.
func Files(dir string, city []City, asn []ASN) (cityPath, asnPath string, err error) {
	cb, err := CityDB(city)
	if err != nil {
		return "", "", err
	}
	ab, err := ASNDB(asn)
	if err != nil {
		return "", "", err
	}
	cityPath, asnPath = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "asn.mmdb")
	if err := os.WriteFile(cityPath, cb, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(asnPath, ab, 0o644); err != nil {
		return "", "", err
	}
	return cityPath, asnPath, nil
}

// Fixture is a small world used across the collector's tests: homes and
// exits named after where they are. Addresses are ordinary public ranges
// chosen for the tests; the records are invented.
var (
	// Denver, US: a residential line.
	Denver = City{Network: "81.2.69.0/24", Country: "US", City: "Denver", Latitude: 39.7392, Longitude: -104.9903, AccuracyRadius: 20, TimeZone: "America/Denver"}
	// Chicago, US: a residential line about 1,480 km from Denver.
	Chicago = City{Network: "89.160.20.0/24", Country: "US", City: "Chicago", Latitude: 41.8781, Longitude: -87.6298, AccuracyRadius: 10, TimeZone: "America/Chicago"}
	// Ashburn, US: an Astrill VPN exit on a hosting network.
	Ashburn = City{Network: "175.16.199.0/24", Country: "US", City: "Ashburn", Latitude: 39.0438, Longitude: -77.4874, AccuracyRadius: 20, TimeZone: "America/New_York"}
	// Shenyang, CN.
	Shenyang = City{Network: "202.196.224.0/20", Country: "CN", City: "Shenyang", Latitude: 41.8057, Longitude: 123.4315, AccuracyRadius: 50, TimeZone: "Asia/Shanghai"}
	// Frankfurt, DE: a hosting network.
	Frankfurt = City{Network: "217.65.48.0/24", Country: "DE", City: "Frankfurt am Main", Latitude: 50.1109, Longitude: 8.6821, AccuracyRadius: 100, TimeZone: "Europe/Berlin"}
)

// FixtureCities and FixtureASNs are the fixture's records.
var (
	FixtureCities = []City{Denver, Chicago, Ashburn, Shenyang, Frankfurt}
	FixtureASNs   = []ASN{
		{Network: "81.2.69.0/24", Number: 7922, Org: "Comcast Cable Communications, LLC"},
		{Network: "89.160.20.0/24", Number: 7018, Org: "AT&T Services, Inc."},
		{Network: "175.16.199.0/24", Number: 64512, Org: "Astrill Systems Corp"},
		{Network: "202.196.224.0/20", Number: 4837, Org: "CHINA UNICOM China169 Backbone"},
		{Network: "217.65.48.0/24", Number: 24940, Org: "Hetzner Online GmbH"},
	}
)

package server

import (
	"context"
	"testing"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/geo/geotest"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
)

// withGeo turns the geo judgement on for benchIngest: a GeoIP lookup of
// the report's address, the device's history read before and written
// with the report, every rule against a registered home. Compare
// BenchmarkIngestGeo* with BenchmarkIngestSQLite/Postgres for what geo
// adds to ingest.
func withGeo(b *testing.B) func(*ingestFixture) {
	city, asn, err := geotest.Files(b.TempDir(), geotest.FixtureCities, geotest.FixtureASNs)
	if err != nil {
		b.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		b.Fatal(err)
	}
	return func(f *ingestFixture) {
		f.dev.Owner = "alice@corp.example"
		o := geo.Options{HostingASNs: geo.DefaultHostingASNMap(), HostingOrgPatterns: geo.DefaultHostingOrgPatterns}.WithDefaults()
		f.in.Geo = &geoJudge{db: db, opts: o, alertMin: detectors.SeverityMedium, home: func(context.Context, string) (store.RosterEntry, bool) {
			return store.RosterEntry{Owner: "alice@corp.example", City: "Denver", Country: "US", Latitude: 39.7392, Longitude: -104.9903}, true
		}}
	}
}

func BenchmarkIngestGeoSQLite(b *testing.B) {
	benchIngest(b, benchStore(b, "sqlite"), "81.2.69.7", withGeo(b))
}

func BenchmarkIngestGeoPostgres(b *testing.B) {
	benchIngest(b, benchStore(b, "postgres"), "81.2.69.7", withGeo(b))
}

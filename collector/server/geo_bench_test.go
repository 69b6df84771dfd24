package server

import (
	"context"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/geo/geotest"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
	"github.com/farmwatch/farmwatch/detectors"
)

// benchIngestGeo is benchIngest with the geo judgement on: a GeoIP lookup
// of the report's address, the device's history read before and written
// with the report, every rule against a registered home. Compare with
// BenchmarkIngestSQLite/Postgres for what geo adds to ingest.
func benchIngestGeo(b *testing.B, st store.Store) {
	city, asn, err := geotest.Files(b.TempDir(), geotest.FixtureCities, geotest.FixtureASNs)
	if err != nil {
		b.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		b.Fatal(err)
	}
	f := newIngestFixture(b, st)
	f.dev.Owner = "alice@corp.example"
	o := geo.Options{HostingASNs: geo.DefaultHostingASNMap(), HostingOrgPatterns: geo.DefaultHostingOrgPatterns}.WithDefaults()
	f.in.Geo = &geoJudge{db: db, opts: o, alertMin: detectors.SeverityMedium, home: func(context.Context, string) (store.RosterEntry, bool) {
		return store.RosterEntry{Owner: "alice@corp.example", City: "Denver", Country: "US", Latitude: 39.7392, Longitude: -104.9903}, true
	}}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = f.batch(b, uint64(i+1))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.in.Ingest(ctx, f.dev, "81.2.69.7", bodies[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}

func BenchmarkIngestGeoSQLite(b *testing.B) {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	benchIngestGeo(b, st)
}

func BenchmarkIngestGeoPostgres(b *testing.B) {
	st, err := store.Open(context.Background(), storetest.PostgresDSN(b), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	benchIngestGeo(b, st)
}

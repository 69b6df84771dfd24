package geo_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/detectors"
)

// BenchmarkGeoJudge is the per-report cost of the geo judgement: the City
// and ASN lookups of the report's public IP and every rule, on a report
// with four landmarks, a time zone and a network identity, for a device
// with a learnt baseline.
func BenchmarkGeoJudge(b *testing.B) {
	db, _, _ := fixtureDB(b)
	o := geo.Options{HostingASNs: geo.DefaultHostingASNMap(), HostingOrgPatterns: geo.DefaultHostingOrgPatterns}.WithDefaults()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	sig := &detectors.GeoSignals{
		TimeZone: "America/Denver", UTCOffsetSeconds: -7 * 3600,
		Landmarks: []detectors.LandmarkRTT{
			{Name: "chicago", Latitude: 41.8781, Longitude: -87.6298, RTTMS: 31, Samples: 3},
			{Name: "ashburn", Latitude: 39.0438, Longitude: -77.4874, RTTMS: 48, Samples: 3},
			{Name: "frankfurt", Latitude: 50.1109, Longitude: 8.6821, RTTMS: 130, Samples: 3},
			{Name: "tokyo", Latitude: 35.6762, Longitude: 139.6503, RTTMS: 140, Samples: 3},
		},
	}
	home := &geo.Home{Owner: "alice@corp.example", City: "Denver", Country: "US", HasCoords: true, Latitude: 39.7392, Longitude: -104.9903, TimeZone: "America/Denver"}
	base := geo.Baseline{
		FirstSeen: now.Add(-30 * 24 * time.Hour),
		Countries: []geo.Seen{{Value: "US", FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now, Reports: 500}},
		Networks:  []geo.Seen{{Value: "gw:4f2a", FirstSeen: now.Add(-30 * 24 * time.Hour), LastSeen: now, Reports: 500}},
	}
	ips := []netip.Addr{netip.MustParseAddr("81.2.69.7"), netip.MustParseAddr("175.16.199.9"), netip.MustParseAddr("202.196.224.5")}
	nets := geo.NetworkIDs("4f2a", []string{"77b1"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		loc, err := db.Lookup(ips[i%len(ips)])
		if err != nil {
			b.Fatal(err)
		}
		v := geo.Judge(geo.Input{DeviceID: "fw-1", Now: now, Loc: loc, Home: home, Signals: sig, Networks: nets, Baseline: base}, o)
		if len(v.Judged) == 0 {
			b.Fatal("nothing judged")
		}
	}
}

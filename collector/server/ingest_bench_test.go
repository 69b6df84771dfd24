package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// ingestFixture is an Ingester on a store with one enrolled device.
type ingestFixture struct {
	in  *Ingester
	dev store.Device
	key transport.DeviceKey
}

func newIngestFixture(tb testing.TB, st store.Store) *ingestFixture {
	tb.Helper()
	key, err := transport.LoadOrCreateKey(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(key.Public())
	dev := store.Device{ID: key.DeviceID(), PublicKey: spki, Hostname: "LT-1", OS: "linux", Arch: "amd64", EnrolledAt: time.Now(), MaxSeverity: -1}
	if err := st.EnrollDevice(context.Background(), dev); err != nil {
		tb.Fatal(err)
	}
	return &ingestFixture{
		in:  &Ingester{Store: st, Metrics: NewMetrics(), Log: zap.NewNop(), FindingMin: detectors.SeverityHigh, Now: time.Now},
		dev: dev, key: key,
	}
}

// batch signs a one-report batch with seq and a typical scan report.
func (f *ingestFixture) batch(tb testing.TB, seq uint64) []byte {
	tb.Helper()
	fs := make([]detectors.Finding, 3)
	for i := range fs {
		fs[i] = detectors.Finding{ID: "f" + string(rune('a'+i)), Detector: "remoteaccess", Rule: "remoteaccess.installed", Severity: detectors.SeverityLow,
			Confidence: 0.8, Title: "AnyDesk installed", Summary: "AnyDesk 8.0.1 is installed in C:\\Program Files (x86)\\AnyDesk.", ObservedAt: time.Unix(1_800_000_000, 0).UTC()}
	}
	r := &transport.Report{Schema: transport.ReportSchema, Kind: transport.KindScan, DeviceID: f.key.DeviceID(), Seq: seq, BootID: "b", AgentVersion: "bench",
		SentAt: time.Unix(1_800_000_000, 0).UTC(), Findings: fs,
		Context: transport.ReportContext{Host: transport.HostContext{OS: "windows", Arch: "amd64", Hostname: "LT-1"},
			Detectors: []transport.DetectorHealth{{Name: "remoteaccess", Status: "ok", DurationMS: 40}, {Name: "kvm", Status: "ok", DurationMS: 9}}}}
	env, err := transport.SignReport(context.Background(), f.key, r)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(transport.Batch{Envelopes: []transport.Envelope{*env}})
	return body
}

// benchIngest measures verify + store per report (signing is the
// agent's cost and is done before the timer starts), from the public
// address ip; with, when not nil, adds to the ingest path (geo).
func benchIngest(b *testing.B, st store.Store, ip string, with func(*ingestFixture)) {
	f := newIngestFixture(b, st)
	if with != nil {
		with(f)
	}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = f.batch(b, uint64(i+1))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := f.in.Ingest(ctx, f.dev, ip, bodies[i])
		if err != nil || resp.Results[0].Status != transport.StatusStored {
			b.Fatalf("ingest %d: %+v %v", i, resp, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}

// benchStore opens the store a benchmark ingests into: SQLite in a new
// directory, or the local PostgreSQL.
func benchStore(b *testing.B, backend string) store.Store {
	dsn := filepath.Join(b.TempDir(), "bench.db")
	if backend == "postgres" {
		dsn = storetest.PostgresDSN(b)
	}
	st, err := store.Open(context.Background(), dsn, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func BenchmarkIngestSQLite(b *testing.B) {
	benchIngest(b, benchStore(b, "sqlite"), "203.0.113.7", nil)
}

func BenchmarkIngestPostgres(b *testing.B) {
	benchIngest(b, benchStore(b, "postgres"), "203.0.113.7", nil)
}

// FuzzIngest feeds arbitrary batch bodies to the ingest path: it never
// panics, and a body that is refused or rejected stores nothing.
func FuzzIngest(f *testing.F) {
	st, err := store.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"), zap.NewNop())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	fx := newIngestFixture(f, st)
	good := fx.batch(f, 1)
	f.Add(good)
	f.Add([]byte(`{"envelopes":[]}`))
	f.Add([]byte(`{"envelopes":[{"payloadType":"application/vnd.farmwatch.report.v1+json","payload":"e30=","signatures":[{"keyid":"x","sig":"AA=="}]}]}`))
	f.Add([]byte(`{"envelopes":[null,1,"x",{}]}`))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(mustReports(t, st, fx.dev.ID))
		resp, err := fx.in.Ingest(ctx, fx.dev, "198.51.100.1", body)
		after := len(mustReports(t, st, fx.dev.ID))
		stored := 0
		if err == nil {
			for _, r := range resp.Results {
				if r.Status == transport.StatusStored {
					stored++
				}
			}
		}
		if after-before != stored {
			t.Fatalf("%d reports appeared, %d reported stored (err %v)", after-before, stored, err)
		}
	})
}

func mustReports(t *testing.T, st store.Store, id string) []store.StoredReport {
	t.Helper()
	rs, _, err := st.ListReports(context.Background(), id, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

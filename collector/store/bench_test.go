package store_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
)

// BenchmarkStoreReport stores one report per op: 5 findings and a 4 KiB
// envelope, each with the next seq, as the ingest path does.
func BenchmarkStoreReport(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchStoreReport(b, filepath.Join(b.TempDir(), "collector.db"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchStoreReport(b, storetest.PostgresDSN(b))
	})
}

func benchStoreReport(b *testing.B, dsn string) {
	ctx := b.Context()
	s, err := store.Open(ctx, dsn, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.EnrollDevice(ctx, store.Device{ID: "fw-bench", PublicKey: []byte("k"), EnrolledAt: at}); err != nil {
		b.Fatal(err)
	}
	r := store.StoredReport{
		DeviceID: "fw-bench", Kind: "scan", BootID: "boot", PublicIP: "203.0.113.7", AgentVersion: "1.0.0",
		Envelope: bytes.Repeat([]byte("e"), 4096), Health: []byte(`[{"name":"kvm","status":"ok"}]`),
		Network: store.Network{GatewayHash: "gw", BSSIDHashes: []string{"b1"}},
	}
	for i := range 5 {
		r.Findings = append(r.Findings, store.StoredFinding{
			FindingID: fmt.Sprintf("f%d", i), Detector: "kvm", Rule: "kvm.pikvm_usb_identity", Severity: i % 5, Confidence: 0.8,
			Title: "PiKVM attached", Summary: "a USB device identifies as PiKVM", JSON: []byte(`{"id":"f","evidence":{"vendor_id":"1d6b"}}`),
			ObservedAt: at,
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	seq := uint64(0)
	for b.Loop() {
		seq++
		r.Seq, r.SentAt, r.ReceivedAt = seq, at.Add(time.Duration(seq)*time.Second), at.Add(time.Duration(seq)*time.Second)
		if dup, err := s.StoreReport(ctx, r); err != nil || dup {
			b.Fatalf("seq %d: duplicate %v, %v", seq, dup, err)
		}
	}
	b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "reports/s")
}

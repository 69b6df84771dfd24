package transport

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// typicalReport is a scan report of a laptop with three findings and
// the context an agent sends (three detectors' health, a network identity).
func typicalReport(k DeviceKey) *Report {
	r := testReport(k)
	f := r.Findings[0]
	for i := 0; i < 2; i++ {
		g := f
		g.ID, g.Severity = g.ID+string(rune('a'+i)), detectors.SeverityMedium
		g.Summary = "USB device 1d6b:0104 \"PiKVM Composite Device\" serial CAFEBABE at 3-2 matches the default USB identity of PiKVM (matched vendor, product, manufacturer)."
		g.Rationale = "IP-KVMs let a remote operator drive the laptop as if sitting at it; laptop farms use them to hide remote control from endpoint tools."
		g.Remediation = "Ask the device owner what is plugged into the laptop; an IP-KVM on a company laptop is not sanctioned."
		r.Findings = append(r.Findings, g)
	}
	r.Context.Detectors = []DetectorHealth{{Name: "kvm", Status: "ok", DurationMS: 12}, {Name: "remoteaccess", Status: "ok", DurationMS: 40}, {Name: "colocation", Status: "ok", DurationMS: 8}}
	r.Context.Network = NetworkContext{GatewayHash: HashIdentifier([]byte("k"), "gateway", "aa"), BSSIDHashes: []string{HashIdentifier([]byte("k"), "bssid", "bb")}}
	return r
}

// BenchmarkSignReport measures what the agent pays per report: JSON
// encoding plus an ECDSA P-256 signature. It also reports the envelope's
// size on the wire.
func BenchmarkSignReport(b *testing.B) {
	k, err := LoadOrCreateKey(detectortest.TempDir(b))
	if err != nil {
		b.Fatal(err)
	}
	r := typicalReport(k)
	ctx := context.Background()
	var size int
	b.ReportAllocs()
	for b.Loop() {
		env, err := SignReport(ctx, k, r)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		size = len(raw)
	}
	b.ReportMetric(float64(size), "envelope_bytes")
}

// BenchmarkVerifyReport measures the collector's share: signature check,
// strict decode and validation.
func BenchmarkVerifyReport(b *testing.B) {
	k, err := LoadOrCreateKey(detectortest.TempDir(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	env, err := SignReport(ctx, k, typicalReport(k))
	if err != nil {
		b.Fatal(err)
	}
	pub := k.Public().(*ecdsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		payload, err := VerifyEnvelope(ctx, env, pub, k.DeviceID())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeReport(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubmit is the agent's whole enqueue path per report: sequence
// number, signature, and the durable queue with fsync (one caller, so no
// group commit helps it).
func BenchmarkSubmit(b *testing.B) {
	dir := detectortest.TempDir(b)
	k, err := LoadOrCreateKey(dir)
	if err != nil {
		b.Fatal(err)
	}
	q, err := OpenQueue(QueueOptions{Dir: dir + "/queue"})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	seq, err := OpenSeqCounter(dir)
	if err != nil {
		b.Fatal(err)
	}
	o := &Outbox{Key: k, Queue: q, Seq: seq, BootID: "b", AgentVersion: "bench", Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := typicalReport(k)
		if _, err := o.Submit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// TestQueueCapDropsLowFirstAndReportsIt fills a small queue while the
// collector is unreachable: info reports are dropped first and counted,
// high ones are all kept, and the drop counts reach the collector in the
// next report.
func TestQueueCapDropsLowFirstAndReportsIt(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	a.queue.Close()
	q, err := transport.OpenQueue(transport.QueueOptions{Dir: filepath.Join(a.dir, "queue"), MaxBytes: 64 << 10, SegmentBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	a.queue, a.outbox.Queue, a.sender.Queue = q, q, q
	ctx := context.Background()
	high := detectors.Finding{ID: "h", Detector: "kvm", Rule: "kvm.pikvm_usb_identity", Severity: detectors.SeverityHigh, Confidence: 0.9, Title: "PiKVM", Summary: "s", ObservedAt: time.Now().UTC()}
	var highSeqs []uint64
	refused := 0
	for i := 0; i < 120; i++ {
		r := &transport.Report{Kind: transport.KindHeartbeat}
		if i%4 == 0 {
			r = &transport.Report{Kind: transport.KindScan, Findings: []detectors.Finding{high}}
		}
		seq, err := a.outbox.Submit(ctx, r)
		switch {
		case err == nil && i%4 == 0:
			highSeqs = append(highSeqs, seq)
		case err == nil:
		case errors.Is(err, transport.ErrDropped) && i%4 != 0:
			refused++
		default:
			t.Fatalf("report %d: %v", i, err)
		}
	}
	drops := q.Stats().Drops
	if drops[detectors.SeverityHigh] != 0 || drops[detectors.SeverityCritical] != 0 {
		t.Fatalf("high reports dropped: %v", drops)
	}
	if drops[detectors.SeverityInfo] == 0 {
		t.Fatalf("nothing dropped from a full queue: %v", drops)
	}
	// The next report carries the cumulative counts.
	a.outbox.Submit(ctx, &transport.Report{Kind: transport.KindHeartbeat})
	a.flush(t)
	stored := map[uint64]bool{}
	for _, r := range c.reports(a.state.Key.DeviceID()) {
		stored[r.Seq] = true
	}
	for _, s := range highSeqs {
		if !stored[s] {
			t.Errorf("high report %d lost", s)
		}
	}
	reports := c.reports(a.state.Key.DeviceID())
	last := reports[0]
	for _, r := range reports {
		if r.Seq > last.Seq {
			last = r
		}
	}
	var got transport.Envelope
	if err := json.Unmarshal(last.Envelope, &got); err != nil {
		t.Fatal(err)
	}
	payload, _ := got.DecodeB64Payload()
	rep, err := transport.DecodeReport(payload)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Context.Queue.Drops[detectors.SeverityInfo] != drops[detectors.SeverityInfo] {
		t.Errorf("last report carries drops %v, queue counted %v", rep.Context.Queue.Drops, drops)
	}
	t.Logf("%d high reports kept, %d info reports dropped (%d refused at submit)", len(highSeqs), drops[detectors.SeverityInfo], refused)
}

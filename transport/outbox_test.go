package transport

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// TestOutboxHoldsProtectedReportsWhenFull: at the queue's hard limit a
// high report is held in memory, not lost, and enters the queue before
// the next report once there is room.
func TestOutboxHoldsProtectedReportsWhenFull(t *testing.T) {
	t.Parallel()
	dir := detectortest.TempDir(t)
	k, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	q, err := OpenQueue(QueueOptions{Dir: filepath.Join(dir, "queue"), MaxBytes: 16 << 10, HardMaxBytes: 20 << 10, SegmentBytes: 8 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	seq, err := OpenSeqCounter(dir)
	if err != nil {
		t.Fatal(err)
	}
	o := &Outbox{Key: k, Queue: q, Seq: seq, BootID: "b", AgentVersion: "test"}
	ctx := context.Background()
	high := func() *Report {
		r := testReport(k)
		r.Findings[0].Severity = detectors.SeverityHigh
		return r
	}
	var heldSeq uint64
	for i := 0; i < 100 && heldSeq == 0; i++ {
		s, err := o.Submit(ctx, high())
		switch {
		case errors.Is(err, ErrFull):
			heldSeq = s
		case err != nil:
			t.Fatal(err)
		}
	}
	if heldSeq == 0 || o.Held() != 1 {
		t.Fatalf("the queue never reached its hard limit (held %d)", o.Held())
	}
	// Room comes back (the sender delivered some).
	items, err := q.Peek(4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := q.Ack(it.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Submit(ctx, high()); err != nil {
		t.Fatalf("submit after room came back: %v", err)
	}
	if o.Held() != 0 {
		t.Fatalf("%d envelopes still held", o.Held())
	}
	// The held report is in the queue, in order, before the new one.
	all, err := q.Peek(1000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range all {
		var env Envelope
		if err := json.Unmarshal(it.Data, &env); err != nil {
			t.Fatal(err)
		}
		body, _ := env.DecodeB64Payload()
		r, err := DecodeReport(body)
		if err != nil {
			t.Fatal(err)
		}
		found = found || r.Seq == heldSeq
	}
	if !found {
		t.Errorf("held report %d never reached the queue", heldSeq)
	}
	if d := q.Stats().Drops; d[detectors.SeverityHigh] != 0 {
		t.Errorf("high reports dropped: %v", d)
	}
}

package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

func readSnap(t *testing.T, parts ...string) *detectors.Snapshot {
	t.Helper()
	f, err := os.Open(filepath.Join(append([]string{"..", "detectors"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := detectors.ReadSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPartialCheckCarriesAllDetectors goes through the real check path
// and a real collector: after a full check that finds a PiKVM, a check of
// remoteaccess alone still reports the PiKVM finding, and each detector's
// health says when it last ran.
func TestPartialCheckCarriesAllDetectors(t *testing.T) {
	t.Parallel()
	url, ca, st, _ := collector(t)
	a := enrolledAgent(t, url, ca, st)
	a.Config.Detectors.Enabled = []string{"kvm", "remoteaccess"}
	clock := t0
	a.Now = func() time.Time { return clock }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pikvm := readSnap(t, "kvm", "testdata", "snapshots", "pikvm.json")
	full, err := a.CheckDetectors(ctx, pikvm, nil)
	if err != nil {
		t.Fatal(err)
	}
	kvmFindings := 0
	for _, f := range full.Findings {
		if f.Detector == "kvm" {
			kvmFindings++
		}
	}
	if kvmFindings == 0 {
		t.Fatal("the PiKVM snapshot gave no kvm finding")
	}

	clock = t0.Add(15 * time.Minute)
	clean := readSnap(t, "remoteaccess", "testdata", "snapshots", "linux-clean.json")
	part, err := a.CheckDetectors(ctx, clean, []string{"remoteaccess"})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, f := range part.Findings {
		if f.Detector == "kvm" {
			got++
		}
	}
	if got != kvmFindings {
		t.Errorf("partial check carries %d kvm findings, want %d", got, kvmFindings)
	}
	health := map[string]transport.DetectorHealth{}
	for _, h := range a.context(part).Detectors {
		health[h.Name] = h
	}
	if !health["kvm"].RanAt.Equal(t0) || !health["remoteaccess"].RanAt.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("ran at: kvm %v, remoteaccess %v", health["kvm"].RanAt, health["remoteaccess"].RanAt)
	}
	if n, err := a.Deliver(ctx); err != nil || n != 2 {
		t.Fatalf("delivered %d: %v", n, err)
	}
}

// TestRunLoopFakeClock drives the real run loop with a clock that never
// moves and timers that never fire: it checks once at start, then only
// when asked (RequestCheck), and says stopping at the end; no scheduled
// check or heartbeat can happen in between.
func TestRunLoopFakeClock(t *testing.T) {
	t.Parallel()
	url, ca, st, _ := collector(t)
	a := enrolledAgent(t, url, ca, st)
	a.Config.Detectors.Enabled = []string{"remoteaccess"}
	a.Now = func() time.Time { return t0 }
	never := make(chan time.Time)
	a.After = func(time.Duration) <-chan time.Time { return never }
	src := &fakeSources{wall: t0, net: "n", dev: "d"}
	a.watch = src.watch()
	a.Usage = func(context.Context) (Usage, error) { return Usage{RSS: 10 << 20}, nil }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitReport := func(seq uint64, kind transport.ReportKind) {
		t.Helper()
		for range 600 {
			dev, err := st.GetDevice(context.Background(), a.DeviceID())
			if err != nil {
				t.Fatal(err)
			}
			if dev.LastSeq > seq {
				t.Fatalf("report %d (%s) arrived, want the last to be %d", dev.LastSeq, dev.LastKind, seq)
			}
			if dev.LastSeq == seq {
				if dev.LastKind != string(kind) {
					t.Fatalf("report %d is %s, want %s", seq, dev.LastKind, kind)
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("report %d (%s) never arrived", seq, kind)
	}
	waitReport(1, transport.KindScan)
	// The status tells when the next scheduled check is: the fleet
	// policy fetched during the first check sets a 2 h scan interval (see
	// collector()), which applies at once, plus at most 10 % jitter.
	for range 600 {
		if !a.Facts().NextCheck.IsZero() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if next := a.Facts().NextCheck; next.Before(t0.Add(2*time.Hour)) || next.After(t0.Add(2*time.Hour+12*time.Minute)) {
		t.Errorf("status next check %v, want 2 h to 2 h 12 min after %v", next, t0)
	}
	a.RequestCheck("test")
	waitReport(2, transport.KindScan)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	waitReport(3, transport.KindStopping)
}

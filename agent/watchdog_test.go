package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
)

type watchdogProbe struct {
	events         []string
	relieved, shed int
}

func newTestWatchdog(cfg WatchdogConfig) (*watchdog, *watchdogProbe) {
	p := &watchdogProbe{}
	return &watchdog{
		cfg: cfg, log: zap.NewNop(),
		event:   func(kind, _ string) { p.events = append(p.events, kind) },
		relieve: func() { p.relieved++ },
		shed:    func() { p.shed++ },
	}, p
}

var testWatchdogConfig = WatchdogConfig{MaxMemory: 100 << 20, MaxCPUPercent: 10, Window: Duration(time.Minute), SampleInterval: Duration(15 * time.Second)}

// TestWatchdogMemoryEpisodes: one event per episode; the episode ends
// below 90 % of the limit (not just below it).
func TestWatchdogMemoryEpisodes(t *testing.T) {
	t.Parallel()
	w, p := newTestWatchdog(testWatchdogConfig)
	rss := []uint64{40, 120, 130, 95, 110, 80, 101}
	for i, mb := range rss {
		w.observe(t0.Add(time.Duration(i)*15*time.Second), Usage{RSS: mb << 20})
	}
	if want := []string{EventWatchdogMemory, EventWatchdogMemory}; !slices.Equal(p.events, want) {
		t.Errorf("events %v, want %v (120 opens, 95 and 110 stay in it, 80 closes, 101 opens)", p.events, want)
	}
	if p.relieved != 2 || p.shed != 2 {
		t.Errorf("relieved %d shed %d, want 2 each", p.relieved, p.shed)
	}
}

// TestWatchdogCPUWindow: CPU is judged over a full window only, so a
// burst at start (the first check) within the limit on average is fine.
func TestWatchdogCPUWindow(t *testing.T) {
	t.Parallel()
	w, p := newTestWatchdog(testWatchdogConfig)
	cpu := time.Duration(0)
	at := t0
	step := func(used time.Duration) {
		cpu += used
		at = at.Add(15 * time.Second)
		w.observe(at, Usage{RSS: 10 << 20, CPU: cpu})
	}
	w.observe(at, Usage{RSS: 10 << 20})
	step(5 * time.Second) // 33 % for 15 s: window not full yet
	step(0)
	step(0)
	if len(p.events) != 0 {
		t.Fatalf("event before a full window: %v", p.events)
	}
	step(0) // window full: 5 s over 60 s = 8.3 %
	if len(p.events) != 0 {
		t.Fatalf("8.3%% over the window reported: %v", p.events)
	}
	for range 4 {
		step(3 * time.Second) // 20 % sustained
	}
	if !slices.Equal(p.events, []string{EventWatchdogCPU}) || p.shed != 1 || p.relieved != 0 {
		t.Fatalf("sustained 20%%: events %v shed %d relieved %d", p.events, p.shed, p.relieved)
	}
	for range 8 {
		step(time.Second / 2) // 3.3 %
	}
	for range 4 {
		step(3 * time.Second)
	}
	if !slices.Equal(p.events, []string{EventWatchdogCPU, EventWatchdogCPU}) {
		t.Errorf("second episode: events %v", p.events)
	}
}

// TestWatchdogRun drives the sampling loop with a fake timer.
func TestWatchdogRun(t *testing.T) {
	t.Parallel()
	w, p := newTestWatchdog(testWatchdogConfig)
	samples := []Usage{{RSS: 10 << 20}, {RSS: 200 << 20}, {RSS: 10 << 20}}
	ctx, cancel := context.WithCancel(context.Background())
	i := 0
	w.sample = func(context.Context) (Usage, error) {
		u := samples[i]
		i++
		if i == len(samples) {
			cancel()
		}
		return u, nil
	}
	tick := make(chan time.Time)
	close(tick) // every wait returns at once
	var waits []time.Duration
	w.run(ctx, func() time.Time { return t0.Add(time.Duration(i) * time.Second) }, func(d time.Duration) <-chan time.Time {
		waits = append(waits, d)
		if i == len(samples) {
			return nil // ctx is cancelled: only Done can fire
		}
		return tick
	})
	if i != 3 || !slices.Equal(p.events, []string{EventWatchdogMemory}) {
		t.Errorf("samples %d events %v", i, p.events)
	}
	for _, d := range waits {
		if d != 15*time.Second {
			t.Errorf("waited %v between samples, want the 15s sample interval", d)
		}
	}
}

func TestSelfUsage(t *testing.T) {
	t.Parallel()
	u, err := SelfUsage()(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS < 1<<20 || u.CPU <= 0 {
		t.Errorf("own usage %+v: want RSS of at least 1 MiB and some CPU time", u)
	}
}

func TestWatchdogConfigValidate(t *testing.T) {
	t.Parallel()
	def := DefaultConfig("linux", func(string) string { return "" }).Watchdog
	if err := def.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := []WatchdogConfig{
		{MaxMemory: 1 << 20, Window: def.Window, SampleInterval: def.SampleInterval},
		{MaxCPUPercent: 150, Window: def.Window, SampleInterval: def.SampleInterval},
		{Window: def.SampleInterval, SampleInterval: def.SampleInterval},
	}
	for i, c := range bad {
		if err := c.validate(); err == nil {
			t.Errorf("case %d accepted: %+v", i, c)
		}
	}
}

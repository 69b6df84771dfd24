package agent

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"go.uber.org/zap"
)

// Usage is one sample of the agent's own resource use.
type Usage struct {
	// RSS is the resident memory in bytes.
	RSS uint64
	// CPU is the process's user+system CPU time since it started.
	CPU time.Duration
}

// UsageSampler reads the agent's own resource use.
type UsageSampler func(ctx context.Context) (Usage, error)

// SelfUsage samples this process through gopsutil.
func SelfUsage() UsageSampler {
	var p *process.Process
	return func(ctx context.Context) (Usage, error) {
		if p == nil {
			var err error
			if p, err = process.NewProcessWithContext(ctx, int32(os.Getpid())); err != nil {
				return Usage{}, fmt.Errorf("watchdog: open own process: %w", err)
			}
		}
		mem, err := p.MemoryInfoWithContext(ctx)
		if err != nil {
			return Usage{}, fmt.Errorf("watchdog: memory: %w", err)
		}
		t, err := p.TimesWithContext(ctx)
		if err != nil {
			return Usage{}, fmt.Errorf("watchdog: cpu times: %w", err)
		}
		return Usage{RSS: mem.RSS, CPU: time.Duration((t.User + t.System) * float64(time.Second))}, nil
	}
}

func (c *WatchdogConfig) validate() error {
	switch {
	case c.MaxMemory != 0 && c.MaxMemory < 16<<20:
		return fmt.Errorf("config: watchdog.max_memory: at least 16MiB (or 0 for no limit)")
	case c.MaxCPUPercent < 0 || c.MaxCPUPercent > 100:
		return fmt.Errorf("config: watchdog.max_cpu_percent %v: between 0 and 100", c.MaxCPUPercent)
	case c.SampleInterval < Duration(time.Second):
		return fmt.Errorf("config: watchdog.sample_interval: at least 1s")
	case c.Window < c.SampleInterval*2:
		return fmt.Errorf("config: watchdog.window: at least two sample intervals")
	}
	return nil
}

// Watchdog event kinds (transport.AgentEvent.Kind).
const (
	EventWatchdogMemory = "watchdog_memory"
	EventWatchdogCPU    = "watchdog_cpu"
)

// watchdog keeps the agent light: it samples the agent's resident memory
// and CPU time, and when a limit is exceeded it logs once per episode,
// records an agent event for the next report, and responds gently (memory
// handed back to the OS, the next trigger-driven check skipped). An
// episode ends when use falls below 90 % of the limit.
type watchdog struct {
	cfg    WatchdogConfig
	sample UsageSampler
	log    *zap.Logger
	// event records an agent event; relieve hands memory back to the OS;
	// shed skips the next optional check.
	event   func(kind, msg string)
	relieve func()
	shed    func()

	window  []timedUsage
	memOver bool
	cpuOver bool
}

type timedUsage struct {
	at time.Time
	u  Usage
}

// observe takes one sample taken at at.
func (w *watchdog) observe(at time.Time, u Usage) {
	w.window = append(w.window, timedUsage{at, u})
	span := time.Duration(w.cfg.Window)
	// Keep the newest sample at least span old as the window's start.
	for len(w.window) > 1 && at.Sub(w.window[1].at) >= span {
		w.window = w.window[1:]
	}
	if limit := uint64(w.cfg.MaxMemory); limit > 0 {
		switch {
		case u.RSS > limit && !w.memOver:
			w.memOver = true
			msg := fmt.Sprintf("resident memory %s is above the limit of %s", mib(u.RSS), mib(limit))
			w.log.Warn("watchdog: "+msg+"; returning memory to the OS and skipping the next optional check", zap.Uint64("rss", u.RSS), zap.Uint64("limit", limit))
			w.event(EventWatchdogMemory, msg)
			w.relieve()
			w.shed()
		case u.RSS < limit/10*9 && w.memOver:
			w.memOver = false
			w.log.Info("watchdog: resident memory back under the limit", zap.Uint64("rss", u.RSS))
		}
	}
	start := w.window[0]
	elapsed := at.Sub(start.at)
	if w.cfg.MaxCPUPercent <= 0 || elapsed < span {
		return
	}
	pct := float64(u.CPU-start.u.CPU) / float64(elapsed) * 100
	switch {
	case pct > w.cfg.MaxCPUPercent && !w.cpuOver:
		w.cpuOver = true
		msg := fmt.Sprintf("CPU use %.1f%% of one core over %s is above the limit of %.1f%%", pct, elapsed.Round(time.Second), w.cfg.MaxCPUPercent)
		w.log.Warn("watchdog: "+msg+"; skipping the next optional check", zap.Float64("cpu_percent", pct))
		w.event(EventWatchdogCPU, msg)
		w.shed()
	case pct < w.cfg.MaxCPUPercent*0.9 && w.cpuOver:
		w.cpuOver = false
		w.log.Info("watchdog: CPU use back under the limit", zap.Float64("cpu_percent", pct))
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// run samples every SampleInterval until ctx ends.
func (w *watchdog) run(ctx context.Context, now func() time.Time, after func(time.Duration) <-chan time.Time) {
	if w.cfg.MaxMemory == 0 && w.cfg.MaxCPUPercent == 0 {
		return
	}
	for {
		if u, err := w.sample(ctx); err != nil {
			w.log.Debug("watchdog sample failed", zap.Error(err))
		} else {
			w.observe(now(), u)
		}
		select {
		case <-ctx.Done():
			return
		case <-after(time.Duration(w.cfg.SampleInterval)):
		}
	}
}

// freeOSMemory hands freed memory back to the OS.
func freeOSMemory() { debug.FreeOSMemory() }

package agent

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// DefaultIntervals are the built-in times between two checks of each
// detector. What changes fast or matters most (a remote-access tool, a KVM
// plugged in) is checked more often than what changes slowly (the LAN, the
// location). A detector not listed uses the fleet scan interval.
var DefaultIntervals = map[string]time.Duration{
	"remoteaccess": 15 * time.Minute,
	"kvm":          15 * time.Minute,
	"colocation":   30 * time.Minute,
	"geodrift":     60 * time.Minute,
}

// Trigger reasons.
const (
	TriggerRequest = "request" // a person asked (local API "check now")
	TriggerWake    = "wake"    // the machine woke from sleep
	TriggerNetwork = "network" // interfaces or addresses changed
	TriggerDevices = "devices" // USB devices or displays changed
)

// Trigger asks for a check before the schedule.
type Trigger struct {
	Reason string
	// Detectors are the detectors to check; nil means every enabled one.
	Detectors []string
	// Immediate skips the debounce (a person is waiting); the short
	// rate limit for requests still applies.
	Immediate bool
}

// requestGap is the shortest time between two checks a person asked for.
const requestGap = 10 * time.Second

func (c *ScheduleConfig) validate() error {
	for n, d := range c.Intervals {
		if _, ok := detectors.Lookup(n); !ok {
			return fmt.Errorf("config: schedule.intervals: unknown detector %q (known: %s)", n, strings.Join(DetectorNames(), ", "))
		}
		if time.Duration(d) < time.Minute {
			return fmt.Errorf("config: schedule.intervals.%s: at least 1m", n)
		}
	}
	switch {
	case c.Jitter < 0 || c.Jitter > 0.5:
		return fmt.Errorf("config: schedule.jitter %v: between 0 and 0.5", c.Jitter)
	case c.CycleTimeout < Duration(10*time.Second):
		return fmt.Errorf("config: schedule.cycle_timeout: at least 10s")
	case c.PollInterval < Duration(time.Second):
		return fmt.Errorf("config: schedule.poll_interval: at least 1s")
	case c.Debounce < 0:
		return fmt.Errorf("config: schedule.debounce must not be negative")
	case c.MinTriggerGap < 0:
		return fmt.Errorf("config: schedule.min_trigger_gap must not be negative")
	}
	return nil
}

// schedule decides which detectors are due. It is plain state driven by
// the times it is given (no clock, no goroutine), used by the run loop
// only.
type schedule struct {
	cfg ScheduleConfig
	// fleetScan is the fleet scan interval (the policy's scan_interval, or
	// its 1h default); fleetSet says the policy sets it explicitly.
	fleetScan time.Duration
	fleetSet  bool
	// jitter returns a random duration in [0, d).
	jitter func(d time.Duration) time.Duration

	next    map[string]time.Time
	lastRan map[string]time.Time

	// The pending trigger-driven check.
	pending       map[string]bool // detectors; nil when none pending
	reasons       []string
	first, last   time.Time // first and latest trigger merged into it
	immediate     bool
	lastTriggered time.Time // when the last trigger-driven check ran
	shed          bool      // drop the next non-immediate trigger (watchdog)
}

func newSchedule(cfg ScheduleConfig, jitter func(time.Duration) time.Duration) *schedule {
	return &schedule{cfg: cfg, jitter: jitter, next: map[string]time.Time{}, lastRan: map[string]time.Time{}, fleetScan: time.Hour}
}

// setFleet applies the fleet policy's scan interval. When it changes, the
// detectors that follow it are rescheduled from their last run at once,
// instead of keeping the times the old interval gave them.
func (s *schedule) setFleet(scan time.Duration, set bool) {
	if scan == s.fleetScan && set == s.fleetSet {
		return
	}
	before := map[string]time.Duration{}
	for n := range s.lastRan {
		before[n] = s.interval(n)
	}
	s.fleetScan, s.fleetSet = scan, set
	for n, at := range s.lastRan {
		if iv := s.interval(n); iv != before[n] {
			s.next[n] = at.Add(iv + s.jitter(time.Duration(float64(iv)*s.cfg.Jitter)))
		}
	}
}

// interval is the time between two checks of detector name.
func (s *schedule) interval(name string) time.Duration {
	if d, ok := s.cfg.Intervals[name]; ok {
		return time.Duration(d)
	}
	if s.fleetSet {
		return s.fleetScan
	}
	if d, ok := DefaultIntervals[name]; ok {
		return d
	}
	if s.fleetScan > 0 {
		return s.fleetScan
	}
	return time.Hour
}

// trigger records a request for a check before the schedule. Triggers
// that arrive while one is pending are merged into it.
func (s *schedule) trigger(t Trigger, now time.Time, enabled []string) {
	if s.pending == nil {
		s.pending = map[string]bool{}
		s.first, s.reasons, s.immediate = now, nil, false
	}
	names := t.Detectors
	if names == nil {
		names = enabled
	}
	for _, n := range names {
		s.pending[n] = true
	}
	s.last = now
	s.immediate = s.immediate || t.Immediate
	if !slices.Contains(s.reasons, t.Reason) {
		s.reasons = append(s.reasons, t.Reason)
	}
}

// shedNext drops the next trigger-driven check that nobody asked for in
// person (the watchdog's gentle response to a limit exceeded).
func (s *schedule) shedNext() { s.shed = true }

// triggerAt is when the pending trigger-driven check may run: the
// debounce after the latest trigger (but at most twice the debounce after
// the first, so a flapping network cannot postpone it for ever), and not
// before the rate limit allows.
func (s *schedule) triggerAt() time.Time {
	if s.immediate {
		return later(s.first, s.lastTriggered.Add(requestGap))
	}
	debounce := time.Duration(s.cfg.Debounce)
	at := s.last.Add(debounce)
	if cap := s.first.Add(2 * debounce); at.After(cap) {
		at = cap
	}
	return later(at, s.lastTriggered.Add(time.Duration(s.cfg.MinTriggerGap)))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// due returns the enabled detectors to check at now, sorted, and the
// reasons ("schedule" and/or trigger reasons). Detectors no longer enabled
// are forgotten.
func (s *schedule) due(now time.Time, enabled []string) (names, reasons []string) {
	on := map[string]bool{}
	for _, n := range enabled {
		on[n] = true
	}
	for n := range s.next {
		if !on[n] {
			delete(s.next, n)
		}
	}
	set := map[string]bool{}
	for _, n := range enabled {
		if next, ok := s.next[n]; !ok || !now.Before(next) {
			set[n] = true
		}
	}
	if len(set) > 0 {
		reasons = append(reasons, "schedule")
	}
	if s.pending != nil && !now.Before(s.triggerAt()) {
		fired := 0
		if s.shed && !s.immediate {
			s.shed = false
		} else {
			for n := range s.pending {
				if on[n] {
					set[n] = true
					fired++
				}
			}
		}
		if fired == 0 {
			// Shed, or none of its detectors is enabled: nothing to run.
			s.pending = nil
		} else {
			reasons = append(reasons, s.reasons...)
		}
	}
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		reasons = nil
	}
	return names, reasons
}

// ran records that names were checked at now: each is next due one
// interval (plus jitter) later, and a pending trigger whose time had come
// is consumed.
func (s *schedule) ran(names []string, now time.Time) {
	for _, n := range names {
		iv := s.interval(n)
		s.next[n] = now.Add(iv + s.jitter(time.Duration(float64(iv)*s.cfg.Jitter)))
		s.lastRan[n] = now
	}
	if s.pending != nil && !now.Before(s.triggerAt()) {
		s.pending = nil
		s.lastTriggered = now
	}
}

// wake returns when the run loop must look again: the earliest next check
// of an enabled detector or the pending trigger's time.
func (s *schedule) wake(now time.Time, enabled []string) time.Time {
	at := time.Time{}
	consider := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	for _, n := range enabled {
		next, ok := s.next[n]
		if !ok {
			return now
		}
		consider(next)
	}
	if s.pending != nil {
		consider(s.triggerAt())
	}
	if at.IsZero() {
		return now.Add(time.Hour)
	}
	return at
}

// enabledDetectors are the detectors the agent runs: the fleet policy's
// list, else the configuration's, else every registered one (the same
// choice as the scanner's).
func (a *Agent) enabledDetectors() []string {
	names := a.Config.Detectors.Enabled
	if p := a.Policy(); p != nil && len(p.Policy.Detectors) > 0 {
		names = p.Policy.Detectors
	}
	if len(names) == 0 {
		names = DetectorNames()
	}
	out := slices.Clone(names)
	sort.Strings(out)
	return slices.Compact(out)
}

// detectorRun is one detector's latest results.
type detectorRun struct {
	result   detectors.RunResult
	findings []detectors.Finding
	obs      detectors.Observation
	at       time.Time
}

// mergeLast records fresh results and returns the device's whole current
// state: fresh results, and the latest results of the enabled detectors
// that did not run this time.
func (a *Agent) mergeLast(fresh *ScanResult) *ScanResult {
	enabled := a.enabledDetectors()
	now := a.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var res *ScanResult
	a.lastRun, res = mergeRuns(a.lastRun, fresh, enabled, now)
	return res
}

// ranAt is when detector name last observed, zero if never.
func (a *Agent) ranAt(name string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastRun[name].at.UTC()
}

// mergeRuns overlays fresh results (taken at now) on last and keeps the
// detectors that are enabled or ran this time. A detector that ran but
// saw nothing (error, timeout) keeps its previous findings and
// observation, so one failed observation does not make the collector
// believe what it found has gone; its result says that it failed.
func mergeRuns(last map[string]detectorRun, fresh *ScanResult, enabled []string, now time.Time) (map[string]detectorRun, *ScanResult) {
	next := map[string]detectorRun{}
	for _, n := range enabled {
		if r, ok := last[n]; ok {
			next[n] = r
		}
	}
	for _, r := range fresh.Detectors {
		run := detectorRun{result: r, obs: fresh.Observations[r.Name], at: now}
		for _, f := range fresh.Findings {
			if f.Detector == r.Name {
				run.findings = append(run.findings, f)
			}
		}
		if prev, ok := last[r.Name]; ok && run.obs == nil && r.Status != detectors.StatusOK {
			run.findings, run.obs = prev.findings, prev.obs
		}
		next[r.Name] = run
	}
	res := &ScanResult{Host: fresh.Host, Findings: []detectors.Finding{}, Observations: map[string]detectors.Observation{}}
	names := make([]string, 0, len(next))
	for n := range next {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := next[n]
		res.Detectors = append(res.Detectors, r.result)
		res.Findings = append(res.Findings, r.findings...)
		if r.obs != nil {
			res.Observations[n] = r.obs
		}
	}
	detectors.SortFindings(res.Findings)
	return next, res
}

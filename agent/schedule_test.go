package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func testSchedule() *schedule {
	cfg := DefaultConfig("linux", func(string) string { return "" }).Schedule
	return newSchedule(cfg, func(time.Duration) time.Duration { return 0 })
}

var all4 = []string{"colocation", "geodrift", "kvm", "remoteaccess"}

// TestScheduleDuePerDetector: everything is due at start; then each
// detector comes back on its own interval.
func TestScheduleDuePerDetector(t *testing.T) {
	t.Parallel()
	s := testSchedule()
	steps := []struct {
		at   time.Duration
		want []string
	}{
		{0, all4},
		{14 * time.Minute, nil},
		{15 * time.Minute, []string{"kvm", "remoteaccess"}},
		{29 * time.Minute, nil},
		{30 * time.Minute, []string{"colocation", "kvm", "remoteaccess"}},
		{45 * time.Minute, []string{"kvm", "remoteaccess"}},
		{60 * time.Minute, all4},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		got, why := s.due(now, all4)
		if !slices.Equal(got, st.want) {
			t.Fatalf("at +%v: due %v, want %v", st.at, got, st.want)
		}
		if len(got) > 0 && !slices.Equal(why, []string{"schedule"}) {
			t.Errorf("at +%v: reasons %v", st.at, why)
		}
		s.ran(got, now)
	}
	if w := s.wake(t0.Add(60*time.Minute), all4); !w.Equal(t0.Add(75 * time.Minute)) {
		t.Errorf("next wake %v, want +75m", w.Sub(t0))
	}
}

func TestScheduleIntervals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		override map[string]Duration
		fleet    time.Duration
		fleetSet bool
		detector string
		want     time.Duration
	}{
		{"built-in", nil, time.Hour, false, "colocation", 30 * time.Minute},
		{"unknown to the table uses the fleet interval", nil, 2 * time.Hour, false, "netinfo", 2 * time.Hour},
		{"fleet policy sets the default", nil, 20 * time.Minute, true, "geodrift", 20 * time.Minute},
		{"configuration wins", map[string]Duration{"kvm": Duration(5 * time.Minute)}, 20 * time.Minute, true, "kvm", 5 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := testSchedule()
			s.cfg.Intervals = c.override
			s.fleetScan, s.fleetSet = c.fleet, c.fleetSet
			if got := s.interval(c.detector); got != c.want {
				t.Errorf("interval(%s) = %v, want %v", c.detector, got, c.want)
			}
		})
	}
}

// TestScheduleFleetIntervalChange: a new fleet scan interval reschedules
// the detectors that follow it from their last run, at once; detectors
// with an interval of their own keep their time, and the same interval
// announced again changes nothing.
func TestScheduleFleetIntervalChange(t *testing.T) {
	t.Parallel()
	s := testSchedule()
	s.cfg.Intervals = map[string]Duration{"kvm": Duration(5 * time.Minute)}
	s.ran([]string{"remoteaccess", "kvm"}, t0)
	if got := s.next["remoteaccess"]; !got.Equal(t0.Add(15 * time.Minute)) {
		t.Fatalf("remoteaccess next %v, want its built-in 15m", got)
	}
	s.setFleet(2*time.Hour, true)
	if got := s.next["remoteaccess"]; !got.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("after the fleet interval became 2h, remoteaccess next %v, want %v", got, t0.Add(2*time.Hour))
	}
	if got := s.next["kvm"]; !got.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("kvm has its own interval; next %v, want %v", got, t0.Add(5*time.Minute))
	}
	s.next["remoteaccess"] = t0.Add(3 * time.Hour) // as if it had run since
	s.setFleet(2*time.Hour, true)
	if got := s.next["remoteaccess"]; !got.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("the same interval again moved remoteaccess to %v", got)
	}
}

// TestScheduleJitterBounds: the next check lands within [interval,
// interval*(1+jitter)) with the real jitter function.
func TestScheduleJitterBounds(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig("linux", func(string) string { return "" }).Schedule
	s := newSchedule(cfg, jitter)
	seen := map[time.Duration]bool{}
	for range 200 {
		s.ran([]string{"kvm"}, t0)
		d := s.next["kvm"].Sub(t0)
		if d < 15*time.Minute || d >= 15*time.Minute+90*time.Second {
			t.Fatalf("next kvm check after %v, want within [15m, 16m30s)", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays in 200 draws: jitter not applied", len(seen))
	}
	if jitter(0) != 0 || jitter(-time.Second) != 0 {
		t.Error("jitter of a non-positive span must be 0")
	}
}

// TestScheduleTriggerDebounce: triggers merge, wait for the debounce after
// the latest one (capped at twice the debounce after the first), and the
// next trigger-driven check waits for the rate limit.
func TestScheduleTriggerDebounce(t *testing.T) {
	t.Parallel()
	s := testSchedule()
	s.ran(all4, t0) // all checked at t0
	s.trigger(Trigger{Reason: TriggerNetwork, Detectors: networkDetectors}, t0.Add(time.Minute), all4)
	s.trigger(Trigger{Reason: TriggerDevices, Detectors: deviceDetectors}, t0.Add(time.Minute+20*time.Second), all4)
	if got, _ := s.due(t0.Add(time.Minute+49*time.Second), all4); got != nil {
		t.Fatalf("due %v before the debounce ended", got)
	}
	if w := s.wake(t0.Add(time.Minute+49*time.Second), all4); !w.Equal(t0.Add(time.Minute + 50*time.Second)) {
		t.Errorf("wake at %v, want +1m50s", w.Sub(t0))
	}
	now := t0.Add(time.Minute + 50*time.Second)
	got, why := s.due(now, all4)
	if want := []string{"colocation", "geodrift", "kvm"}; !slices.Equal(got, want) {
		t.Fatalf("due %v, want %v", got, want)
	}
	if !slices.Equal(why, []string{TriggerNetwork, TriggerDevices}) {
		t.Errorf("reasons %v", why)
	}
	s.ran(got, now)
	if got, _ := s.due(now, all4); got != nil {
		t.Fatalf("trigger not consumed: due %v", got)
	}
	// Rate limit: a new trigger 10 s later waits for min_trigger_gap (2m).
	s.trigger(Trigger{Reason: TriggerWake}, now.Add(10*time.Second), all4)
	if got, _ := s.due(now.Add(time.Minute), all4); got != nil {
		t.Fatalf("due %v within the rate limit", got)
	}
	if got, _ := s.due(now.Add(2*time.Minute), all4); !slices.Equal(got, all4) {
		t.Fatalf("after the rate limit: due %v, want all", got)
	}
}

// TestScheduleTriggerFlapping: a trigger every 20 s does not postpone the
// check beyond twice the debounce.
func TestScheduleTriggerFlapping(t *testing.T) {
	t.Parallel()
	s := testSchedule()
	s.ran(all4, t0)
	start := t0.Add(10 * time.Minute)
	for i := 0; ; i++ {
		now := start.Add(time.Duration(i) * 20 * time.Second)
		if got, _ := s.due(now, all4); got != nil {
			if d := now.Sub(start); d != 60*time.Second {
				t.Fatalf("flapping trigger ran after %v, want 60s (2 × debounce)", d)
			}
			return
		}
		if i > 10 {
			t.Fatal("flapping trigger postponed the check for ever")
		}
		s.trigger(Trigger{Reason: TriggerNetwork, Detectors: networkDetectors}, now, all4)
	}
}

// TestScheduleRequestImmediate: a person's request skips the debounce; a
// second one within the request gap waits; a shed does not drop it.
func TestScheduleRequestImmediate(t *testing.T) {
	t.Parallel()
	s := testSchedule()
	s.ran(all4, t0)
	now := t0.Add(5 * time.Minute)
	s.shedNext()
	s.trigger(Trigger{Reason: TriggerRequest, Immediate: true}, now, all4)
	got, why := s.due(now, all4)
	if !slices.Equal(got, all4) || !slices.Equal(why, []string{TriggerRequest}) {
		t.Fatalf("request: due %v %v, want all at once", got, why)
	}
	s.ran(got, now)
	s.trigger(Trigger{Reason: TriggerRequest, Immediate: true}, now.Add(time.Second), all4)
	if got, _ := s.due(now.Add(time.Second), all4); got != nil {
		t.Fatalf("second request within %v ran at once: %v", requestGap, got)
	}
	if got, _ := s.due(now.Add(requestGap), all4); !slices.Equal(got, all4) {
		t.Fatalf("second request after the gap: due %v", got)
	}
}

// TestScheduleShedAndDisabled: the watchdog's shed drops the next
// optional trigger once; a trigger for detectors that are not enabled is
// dropped rather than left pending (which would spin the loop).
func TestScheduleShedAndDisabled(t *testing.T) {
	t.Parallel()
	s := testSchedule()
	s.ran(all4, t0)
	s.shedNext()
	s.trigger(Trigger{Reason: TriggerWake}, t0.Add(time.Minute), all4)
	at := t0.Add(2 * time.Minute)
	if got, _ := s.due(at, all4); got != nil {
		t.Fatalf("shed trigger ran: %v", got)
	}
	if s.pending != nil {
		t.Fatal("shed trigger still pending")
	}
	s.trigger(Trigger{Reason: TriggerWake}, at, all4)
	if got, _ := s.due(at.Add(time.Minute), all4); !slices.Equal(got, all4) {
		t.Fatalf("the trigger after a shed one: due %v", got)
	}
	s.ran(all4, at.Add(time.Minute))

	only := []string{"remoteaccess"}
	s.trigger(Trigger{Reason: TriggerDevices, Detectors: deviceDetectors}, at.Add(5*time.Minute), only)
	if got, _ := s.due(at.Add(10*time.Minute), only); got != nil {
		t.Fatalf("trigger for a disabled detector ran: %v", got)
	}
	if s.pending != nil {
		t.Fatal("trigger for a disabled detector left pending")
	}
	if _, ok := s.next["kvm"]; ok {
		t.Error("a detector no longer enabled is still scheduled")
	}
}

func finding(det, rule string, sev detectors.Severity) detectors.Finding {
	return detectors.Finding{ID: det + "/" + rule, Detector: det, Rule: rule, Severity: sev, Title: rule}
}

type fakeObs struct{ v string }

func (fakeObs) ObservationSchema() string { return "fake/v1" }

// TestMergeRuns: a partial check carries the other detectors' latest
// results; a failed observation keeps the previous findings; a detector
// no longer enabled drops out.
func TestMergeRuns(t *testing.T) {
	t.Parallel()
	enabled := []string{"kvm", "remoteaccess"}
	full := &ScanResult{
		Findings: []detectors.Finding{finding("kvm", "kvm.pikvm", detectors.SeverityHigh), finding("remoteaccess", "ra.anydesk", detectors.SeverityMedium)},
		Detectors: []detectors.RunResult{
			{Name: "kvm", Status: detectors.StatusOK}, {Name: "remoteaccess", Status: detectors.StatusOK},
		},
		Observations: map[string]detectors.Observation{"kvm": fakeObs{"k1"}, "remoteaccess": fakeObs{"r1"}},
	}
	last, res := mergeRuns(nil, full, enabled, t0)
	if len(res.Findings) != 2 || len(res.Detectors) != 2 {
		t.Fatalf("first full check: %+v", res)
	}

	// Only remoteaccess runs, and the tool is gone.
	partial := &ScanResult{
		Findings:     []detectors.Finding{},
		Detectors:    []detectors.RunResult{{Name: "remoteaccess", Status: detectors.StatusOK}},
		Observations: map[string]detectors.Observation{"remoteaccess": fakeObs{"r2"}},
	}
	t1 := t0.Add(15 * time.Minute)
	last, res = mergeRuns(last, partial, enabled, t1)
	if len(res.Findings) != 1 || res.Findings[0].Rule != "kvm.pikvm" {
		t.Errorf("after a remoteaccess-only check: findings %+v, want the kvm finding carried", res.Findings)
	}
	if len(res.Detectors) != 2 || res.Observations["kvm"] != (fakeObs{"k1"}) || res.Observations["remoteaccess"] != (fakeObs{"r2"}) {
		t.Errorf("detectors %+v observations %+v", res.Detectors, res.Observations)
	}
	if !last["kvm"].at.Equal(t0) || !last["remoteaccess"].at.Equal(t1) {
		t.Errorf("run times kvm %v remoteaccess %v", last["kvm"].at, last["remoteaccess"].at)
	}

	// kvm times out: its previous finding stays, its status says timeout.
	timeout := &ScanResult{Findings: []detectors.Finding{}, Detectors: []detectors.RunResult{{Name: "kvm", Status: detectors.StatusTimeout, Error: "slow"}}}
	last, res = mergeRuns(last, timeout, enabled, t1.Add(time.Minute))
	if len(res.Findings) != 1 || res.Findings[0].Rule != "kvm.pikvm" || res.Detectors[0].Status != detectors.StatusTimeout {
		t.Errorf("after a kvm timeout: findings %+v detectors %+v", res.Findings, res.Detectors)
	}

	// The policy disables kvm.
	_, res = mergeRuns(last, partial, []string{"remoteaccess"}, t1.Add(2*time.Minute))
	if len(res.Findings) != 0 || len(res.Detectors) != 1 || res.Detectors[0].Name != "remoteaccess" {
		t.Errorf("after kvm was disabled: %+v", res)
	}
}

func TestScheduleConfigValidate(t *testing.T) {
	t.Parallel()
	base := DefaultConfig("linux", func(string) string { return "" }).Schedule
	cases := []struct {
		name string
		mod  func(*ScheduleConfig)
	}{
		{"unknown detector", func(c *ScheduleConfig) { c.Intervals = map[string]Duration{"telepathy": Duration(time.Hour)} }},
		{"interval too short", func(c *ScheduleConfig) { c.Intervals = map[string]Duration{"kvm": Duration(time.Second)} }},
		{"jitter", func(c *ScheduleConfig) { c.Jitter = 0.9 }},
		{"cycle timeout", func(c *ScheduleConfig) { c.CycleTimeout = Duration(time.Second) }},
		{"poll interval", func(c *ScheduleConfig) { c.PollInterval = 0 }},
		{"debounce", func(c *ScheduleConfig) { c.Debounce = Duration(-time.Second) }},
	}
	if err := base.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			c.mod(&cfg)
			if err := cfg.validate(); err == nil {
				t.Error("accepted")
			}
		})
	}
}

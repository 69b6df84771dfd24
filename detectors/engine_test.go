package detectors

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// fakeObs and fakeDetector exercise the engine without touching a host.
type fakeObs struct {
	Schema string `json:"schema"`
	N      int    `json:"n"`
}

func (*fakeObs) ObservationSchema() string { return "fake/v1" }

type fakeDetector struct {
	name    string
	observe func(ctx context.Context) (Observation, error)
	eval    func(cur Observation) []Finding
}

func (f *fakeDetector) Name() string { return f.name }
func (f *fakeDetector) Observe(ctx context.Context, _ *Host) (Observation, error) {
	return f.observe(ctx)
}
func (f *fakeDetector) DecodeObservation(raw json.RawMessage) (Observation, error) {
	var o fakeObs
	return &o, json.Unmarshal(raw, &o)
}
func (f *fakeDetector) DecodePolicy(json.RawMessage) (Policy, error) { return nil, nil }
func (f *fakeDetector) Evaluate(cur, _ Observation, _ Policy) []Finding {
	if f.eval == nil {
		return nil
	}
	return f.eval(cur)
}

func testHost() *Host {
	return &Host{GOOS: "linux", Now: time.Now, Log: zap.NewNop()}
}

func TestEngineStatuses(t *testing.T) {
	t.Parallel()
	ok := &fakeDetector{name: "ok", observe: func(context.Context) (Observation, error) { return &fakeObs{N: 1}, nil },
		eval: func(Observation) []Finding {
			return []Finding{
				{ID: "a", Rule: "ok.low", Severity: SeverityLow, Title: "t", Summary: "s"},
				{ID: "b", Rule: "ok.high", Severity: SeverityHigh, Title: "t", Summary: "s"},
			}
		}}
	slow := &fakeDetector{name: "slow", observe: func(ctx context.Context) (Observation, error) {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // returns late, after the deadline
		return &fakeObs{}, nil
	}}
	panicky := &fakeDetector{name: "panicky", observe: func(context.Context) (Observation, error) { panic("boom") }}
	unsupported := &fakeDetector{name: "unsupported", observe: func(context.Context) (Observation, error) {
		return nil, ErrUnsupported
	}}
	failing := &fakeDetector{name: "failing", observe: func(context.Context) (Observation, error) {
		return nil, errors.New("cannot read")
	}}
	partial := &fakeDetector{name: "partial", observe: func(context.Context) (Observation, error) {
		return &fakeObs{N: 2}, errors.New("one source unreadable")
	}}
	badEval := &fakeDetector{name: "badeval", observe: func(context.Context) (Observation, error) { return &fakeObs{}, nil },
		eval: func(Observation) []Finding { panic("evaluate bug") }}

	e := &Engine{Detectors: []Detector{ok, slow, panicky, unsupported, failing, partial, badEval}, Timeout: 50 * time.Millisecond, Concurrency: 3}
	obs, results := e.Observe(t.Context(), testHost())
	want := map[string]Status{"ok": StatusOK, "slow": StatusTimeout, "panicky": StatusPanic, "unsupported": StatusUnsupported,
		"failing": StatusError, "partial": StatusOK, "badeval": StatusOK}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for _, r := range results {
		if r.Status != want[r.Name] {
			t.Errorf("%s: status %s, want %s (error %q)", r.Name, r.Status, want[r.Name], r.Error)
		}
		if r.DurationMS < 0 {
			t.Errorf("%s: negative duration", r.Name)
		}
	}
	if results[5].Error == "" {
		t.Error("a partial observation must keep its error")
	}
	for _, name := range []string{"ok", "partial", "badeval"} {
		if _, ok := obs[name]; !ok {
			t.Errorf("observation of %s missing", name)
		}
	}
	for _, name := range []string{"slow", "panicky", "unsupported", "failing"} {
		if _, ok := obs[name]; ok {
			t.Errorf("observation of %s kept", name)
		}
	}
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	findings, failed := e.Evaluate(obs, nil, at)
	if len(findings) != 2 || findings[0].Rule != "ok.high" || findings[1].Rule != "ok.low" {
		t.Fatalf("findings %+v, want ok.high then ok.low", findings)
	}
	if findings[0].Detector != "ok" || !findings[0].ObservedAt.Equal(at) {
		t.Errorf("engine did not stamp detector and time: %+v", findings[0])
	}
	if len(failed) != 1 || failed[0].Name != "badeval" || failed[0].Status != StatusPanic {
		t.Errorf("evaluate failures %+v, want badeval panic", failed)
	}
}

func TestEngineCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := &fakeDetector{name: "x", observe: func(ctx context.Context) (Observation, error) { return nil, ctx.Err() }}
	_, results := (&Engine{Detectors: []Detector{d}}).Observe(ctx, testHost())
	if len(results) != 1 || results[0].Status == StatusOK {
		t.Errorf("cancelled run reported %+v", results)
	}
}

func TestSeverity(t *testing.T) {
	t.Parallel()
	for i, name := range []string{"info", "low", "medium", "high", "critical"} {
		s, err := ParseSeverity(strings.ToUpper(name))
		if err != nil || int(s) != i || s.String() != name {
			t.Errorf("ParseSeverity(%s) = %v, %v", name, s, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("ParseSeverity accepted severe")
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"high"`), &s); err != nil || s != SeverityHigh {
		t.Errorf("unmarshal high: %v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`"nope"`), &s); err == nil {
		t.Error("unmarshal accepted nope")
	}
}

func TestFindingContract(t *testing.T) {
	t.Parallel()
	first, again := FindingID("r.x", "a", "b"), FindingID("r.x", "a", "b")
	if first != again || FindingID("r.x", "ab") == first || first != "fnd_"+first[4:] || len(first) != 24 {
		t.Error("FindingID is not a stable, unambiguous function of its parts")
	}
	f := Finding{ID: "fnd_1", Detector: "kvm", Rule: "kvm.x", Severity: SeverityHigh, Confidence: 0.5, Title: "t", Summary: "s"}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(f)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "detector", "rule", "severity", "confidence", "title", "summary", "evidence", "mitre", "observed_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("finding JSON lacks %q: %s", k, b)
		}
	}
	if m["severity"] != "high" {
		t.Errorf("severity encoded as %v", m["severity"])
	}
	bad := []Finding{
		{ID: "x", Detector: "kvm", Rule: "remoteaccess.x", Title: "t", Summary: "s"},
		{ID: "x", Detector: "kvm", Rule: "kvm.x", Confidence: 2, Title: "t", Summary: "s"},
		{ID: "x", Detector: "kvm", Rule: "kvm.x", Severity: 9, Title: "t", Summary: "s"},
		{Detector: "kvm", Rule: "kvm.x", Title: "t", Summary: "s"},
	}
	for _, f := range bad {
		if f.Validate() == nil {
			t.Errorf("Validate accepted %+v", f)
		}
	}
}

func TestExecRunner(t *testing.T) {
	t.Parallel()
	r := &ExecRunner{Allowed: map[string][]string{"echo": {"/nonexistent/echo", "/bin/echo", "/usr/bin/echo"}, "sleep": {"/bin/sleep", "/usr/bin/sleep"}, "false": {"/bin/false", "/usr/bin/false"}}, Timeout: 200 * time.Millisecond, MaxOutput: 8}
	if _, err := r.Run(t.Context(), "rm", "-rf", "/"); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("unlisted command: %v", err)
	}
	out, err := r.Run(t.Context(), "echo", "hi")
	if err != nil || string(out) != "hi\n" {
		t.Errorf("echo: %q %v", out, err)
	}
	if _, err := r.Run(t.Context(), "echo", "0123456789"); err == nil {
		t.Error("output over the cap was accepted")
	}
	if _, err := r.Run(t.Context(), "sleep", "5"); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sleep past the timeout: %v", err)
	}
	if _, err := r.Run(t.Context(), "false"); err == nil {
		t.Error("a failing command reported success")
	}
}

// policyDetector observes with the policy the engine hands it.
type policyDetector struct{ fakeDetector }

func (p *policyDetector) ObserveWith(_ context.Context, _ *Host, pol Policy) (Observation, error) {
	s, _ := pol.(string)
	return &fakeObs{Schema: s}, nil
}

func TestEngineHandsPolicyToPolicyObserver(t *testing.T) {
	t.Parallel()
	with := &policyDetector{fakeDetector{name: "withpolicy"}}
	without := &policyDetector{fakeDetector{name: "default"}}
	e := &Engine{Detectors: []Detector{with, without}, Policies: map[string]Policy{"withpolicy": "landmarks: 3"}}
	obs, results := e.Observe(context.Background(), testHost())
	for _, r := range results {
		if r.Status != StatusOK {
			t.Fatalf("%s: %s %s", r.Name, r.Status, r.Error)
		}
	}
	if got := obs["withpolicy"].(*fakeObs).Schema; got != "landmarks: 3" {
		t.Errorf("ObserveWith got policy %q, want the engine's", got)
	}
	if got := obs["default"].(*fakeObs).Schema; got != "" {
		t.Errorf("a detector without a policy got %q, want nil (its default)", got)
	}
}

package detectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Status is the outcome of one detector in one run.
type Status string

// Statuses a detector run can end with.
const (
	StatusOK          Status = "ok"
	StatusError       Status = "error"
	StatusUnsupported Status = "unsupported"
	StatusTimeout     Status = "timeout"
	StatusPanic       Status = "panic"
	StatusNoData      Status = "no_data" // a snapshot without this detector's observation
)

// RunResult records how one detector fared: the "detectors" entries of
// `farmwatch scan --json`.
type RunResult struct {
	Name       string  `json:"name"`
	Status     Status  `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

// Engine runs a set of detectors with a deadline each, recovers their
// panics and records status and duration.
type Engine struct {
	Detectors []Detector
	// Policies holds each detector's decoded policy by name; a missing
	// entry means the default policy.
	Policies map[string]Policy
	// Timeout is the deadline of one detector's Observe; zero means 60 s.
	Timeout time.Duration
	// Concurrency bounds how many detectors observe at once; zero means 2.
	Concurrency int
	Log         *zap.Logger
}

func (e *Engine) log() *zap.Logger {
	if e.Log == nil {
		return zap.NewNop()
	}
	return e.Log
}

// Observe runs every detector's Observe on h and returns the observations
// of those that succeeded, and a result for each, in detector order.
func (e *Engine) Observe(ctx context.Context, h *Host) (map[string]Observation, []RunResult) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	limit := e.Concurrency
	if limit <= 0 {
		limit = 2
	}
	obs := make(map[string]Observation, len(e.Detectors))
	results := make([]RunResult, len(e.Detectors))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i, d := range e.Detectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = RunResult{Name: d.Name(), Status: StatusError, Error: ctx.Err().Error()}
				return
			}
			defer func() { <-sem }()
			dh := *h
			if dh.Log == nil {
				dh.Log = zap.NewNop()
			}
			dh.Log = dh.Log.With(zap.String("detector", d.Name()))
			o, res := e.observeOne(ctx, d, &dh, timeout)
			results[i] = res
			if o != nil {
				mu.Lock()
				obs[d.Name()] = o
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return obs, results
}

func (e *Engine) observeOne(ctx context.Context, d Detector, h *Host, timeout time.Duration) (Observation, RunResult) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		obs      Observation
		err      error
		panicked bool
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				h.Log.Error("detector panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
				done <- outcome{err: fmt.Errorf("panic: %v", r), panicked: true}
			}
		}()
		var (
			o   Observation
			err error
		)
		if po, ok := d.(PolicyObserver); ok {
			o, err = po.ObserveWith(ctx, h, e.Policies[d.Name()])
		} else {
			o, err = d.Observe(ctx, h)
		}
		done <- outcome{obs: o, err: err}
	}()
	res := RunResult{Name: d.Name(), Status: StatusOK}
	var out outcome
	select {
	case out = <-done:
	case <-ctx.Done():
		res.Status, res.Error = StatusTimeout, fmt.Sprintf("observe did not finish within %s", timeout)
		res.DurationMS = millis(time.Since(start))
		e.log().Warn("detector timed out", zap.String("detector", d.Name()), zap.Duration("timeout", timeout))
		return nil, res
	}
	res.DurationMS = millis(time.Since(start))
	switch {
	case out.panicked:
		res.Status, res.Error = StatusPanic, out.err.Error()
	case errors.Is(out.err, ErrUnsupported):
		res.Status, res.Error = StatusUnsupported, out.err.Error()
	case out.err != nil && out.obs == nil:
		res.Status, res.Error = StatusError, out.err.Error()
		e.log().Warn("detector failed", zap.String("detector", d.Name()), zap.Error(out.err))
	case out.err != nil:
		// Partial observation: keep what was seen, say what was not.
		res.Error = out.err.Error()
		e.log().Debug("detector observed partially", zap.String("detector", d.Name()), zap.Error(out.err))
	}
	return out.obs, res
}

// Evaluate runs every detector's Evaluate on its current (and previous)
// observation. Detectors with no current observation are skipped.
// A panic in Evaluate is recovered and recorded in the returned results.
// Findings come back sorted: most severe first.
func (e *Engine) Evaluate(cur, prev map[string]Observation, observedAt time.Time) ([]Finding, []RunResult) {
	var all []Finding
	var failed []RunResult
	for _, d := range e.Detectors {
		o, ok := cur[d.Name()]
		if !ok {
			continue
		}
		fs, err := evaluateOne(d, o, prev[d.Name()], e.Policies[d.Name()])
		if err != nil {
			e.log().Error("evaluate failed", zap.String("detector", d.Name()), zap.Error(err))
			failed = append(failed, RunResult{Name: d.Name(), Status: StatusPanic, Error: err.Error()})
			continue
		}
		for i := range fs {
			fs[i].Detector = d.Name()
			fs[i].ObservedAt = observedAt.UTC()
		}
		all = append(all, fs...)
	}
	ApplyEscalations(all)
	SortFindings(all)
	return all, failed
}

func evaluateOne(d Detector, cur, prev Observation, pol Policy) (fs []Finding, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluate panic: %v", r)
		}
	}()
	return d.Evaluate(cur, prev, pol), nil
}

// SortFindings orders findings most severe first, then by detector, rule
// and id, so output is stable.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Detector != b.Detector {
			return a.Detector < b.Detector
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.ID < b.ID
	})
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())) / 1000
}

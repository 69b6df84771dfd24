package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
)

// ScanResult is the outcome of a scan: the JSON of `farmwatch scan --json`.
type ScanResult struct {
	Host      detectors.HostInfo    `json:"host"`
	Findings  []detectors.Finding   `json:"findings"`
	Detectors []detectors.RunResult `json:"detectors"`
	// Observations are what the detectors saw, by detector name; they stay
	// on the host (the agent copies what they contribute into reports).
	Observations map[string]detectors.Observation `json:"-"`
}

// UsageError is an error in what the user asked for (an unknown detector,
// a bad snapshot); the CLI exits 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Scanner runs detectors according to a configuration.
type Scanner struct {
	Config Config
	Log    *zap.Logger
	// Only restricts the run to these detectors (the --detectors flag);
	// empty means the configuration's selection.
	Only []string
	// PolicyOverride holds detector policy sections (from the fleet
	// policy) that replace the configuration's.
	PolicyOverride map[string]json.RawMessage
}

// engine builds the detector engine: the selected detectors, each with its
// decoded policy.
func (s *Scanner) engine() (*detectors.Engine, error) {
	names := s.Only
	if len(names) == 0 {
		names = s.Config.Detectors.Enabled
	}
	if len(names) == 0 {
		names = DetectorNames()
	}
	e := &detectors.Engine{
		Policies:    map[string]detectors.Policy{},
		Timeout:     time.Duration(s.Config.Detectors.Timeout),
		Concurrency: s.Config.Detectors.Concurrency,
		Log:         s.log(),
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		info, ok := detectors.Lookup(n)
		if !ok {
			return nil, &UsageError{fmt.Errorf("unknown detector %q (known: %s)", n, strings.Join(DetectorNames(), ", "))}
		}
		d := info.New()
		raw, ok := s.PolicyOverride[n]
		if !ok {
			var err error
			if raw, err = s.Config.PolicyJSON(n); err != nil {
				return nil, err
			}
		}
		pol, err := d.DecodePolicy(raw)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		e.Detectors = append(e.Detectors, d)
		e.Policies[n] = pol
	}
	return e, nil
}

func (s *Scanner) log() *zap.Logger {
	if s.Log == nil {
		return zap.NewNop()
	}
	return s.Log
}

// Observe runs the selected detectors' observation on h.
func (s *Scanner) Observe(ctx context.Context, h *detectors.Host) (*detectors.Snapshot, []detectors.RunResult, error) {
	e, err := s.engine()
	if err != nil {
		return nil, nil, err
	}
	info := hostInfo(h)
	obs, results := e.Observe(ctx, h)
	snap, err := detectors.NewSnapshot(info, obs)
	return snap, results, err
}

// Scan observes h and evaluates what it saw.
func (s *Scanner) Scan(ctx context.Context, h *detectors.Host) (*ScanResult, error) {
	e, err := s.engine()
	if err != nil {
		return nil, err
	}
	info := hostInfo(h)
	obs, results := e.Observe(ctx, h)
	findings, failed := e.Evaluate(obs, nil, info.CollectedAt)
	return &ScanResult{Host: info, Findings: nonNil(findings), Detectors: mergeResults(results, failed), Observations: obs}, nil
}

// ScanSnapshot evaluates a recorded snapshot instead of the live host.
// Observations of detectors this build does not know are skipped with a
// log line; a selected detector without an observation gets status
// "no_data". A malformed observation is a UsageError.
func (s *Scanner) ScanSnapshot(snap *detectors.Snapshot) (*ScanResult, error) {
	e, err := s.engine()
	if err != nil {
		return nil, err
	}
	cur := map[string]detectors.Observation{}
	var results []detectors.RunResult
	selected := map[string]bool{}
	for _, d := range e.Detectors {
		selected[d.Name()] = true
		raw, ok := snap.Observations[d.Name()]
		if !ok {
			results = append(results, detectors.RunResult{Name: d.Name(), Status: detectors.StatusNoData, Error: "the snapshot has no observation for this detector"})
			continue
		}
		start := time.Now()
		o, err := d.DecodeObservation(raw)
		if err != nil {
			return nil, &UsageError{fmt.Errorf("snapshot: observation %q: %w", d.Name(), err)}
		}
		cur[d.Name()] = o
		results = append(results, detectors.RunResult{Name: d.Name(), Status: detectors.StatusOK, DurationMS: float64(time.Since(start).Microseconds()) / 1000})
	}
	for name := range snap.Observations {
		if _, known := detectors.Lookup(name); !known {
			s.log().Warn("snapshot holds an observation of a detector this build does not know; skipped", zap.String("detector", name))
		}
	}
	findings, failed := e.Evaluate(cur, nil, snap.Host.CollectedAt)
	return &ScanResult{Host: snap.Host, Findings: nonNil(findings), Detectors: mergeResults(results, failed), Observations: cur}, nil
}

// mergeResults overlays evaluation failures on observation results.
func mergeResults(results, failed []detectors.RunResult) []detectors.RunResult {
	for _, f := range failed {
		for i := range results {
			if results[i].Name == f.Name {
				results[i].Status, results[i].Error = f.Status, f.Error
			}
		}
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	return results
}

func nonNil(fs []detectors.Finding) []detectors.Finding {
	if fs == nil {
		return []detectors.Finding{}
	}
	return fs
}

func hostInfo(h *detectors.Host) detectors.HostInfo {
	name, _ := os.Hostname()
	return detectors.HostInfo{OS: h.GOOS, Arch: h.GOARCH, Hostname: name, CollectedAt: h.Now().UTC().Truncate(time.Second)}
}

// MaxSeverity returns the highest severity among findings and whether
// there was any finding.
func MaxSeverity(fs []detectors.Finding) (detectors.Severity, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	max := fs[0].Severity
	for _, f := range fs[1:] {
		if f.Severity > max {
			max = f.Severity
		}
	}
	return max, true
}

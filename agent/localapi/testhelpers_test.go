package localapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// fakeSource is a Source with fixed facts that records check requests.
type fakeSource struct {
	mu       sync.Mutex
	facts    Facts
	requests []string
}

func (f *fakeSource) Facts() Facts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.facts
}

func (f *fakeSource) RequestCheck(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, reason)
}

func (f *fakeSource) requested() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// testEndpoint is a fresh endpoint: a socket in a new directory, or a
// pipe with a random name on Windows.
func testEndpoint(t testing.TB) string {
	if runtime.GOOS == "windows" {
		return fmt.Sprintf(`\\.\pipe\farmwatch-test-%d`, rand.Uint64())
	}
	return filepath.Join(detectortest.TempDir(t), "fw.sock")
}

// startServer serves src at endpoint until the test ends and waits until
// the endpoint answers.
func startServer(t testing.TB, src Source, endpoint string, adminGroups []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Source: src, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Now: func() time.Time { return fixedNow }, AdminGroups: adminGroups}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, endpoint) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c := NewClient(endpoint)
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err := c.Queue(context.Background())
		if err == nil {
			return
		}
		if !errors.Is(err, ErrNotRunning) || time.Now().After(deadline) {
			t.Fatalf("the server at %s does not answer: %v", endpoint, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fixedNow is the clock of every test answer.
var fixedNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// sampleFacts are the facts of an enrolled, connected agent whose last
// check found the findings given.
func sampleFacts(findings ...detectors.Finding) Facts {
	return Facts{
		AgentVersion: "1.2.3", StartedAt: fixedNow.Add(-26 * time.Hour), Enrolled: true,
		DeviceID: "fw-0123456789abcdef0123456789abcdef", Server: "https://collector.example:8443",
		Detectors: []DetectorFacts{
			{Name: "kvm", Description: "IP-KVM and capture hardware", Enabled: true},
			{Name: "remoteaccess", Description: "remote-control and RMM tools", Enabled: true},
		},
		LastCheck: fixedNow.Add(-3 * time.Minute), NextCheck: fixedNow.Add(12 * time.Minute),
		Findings: findings,
		Runs: []detectors.RunResult{
			{Name: "kvm", Status: detectors.StatusOK, DurationMS: 12},
			{Name: "remoteaccess", Status: detectors.StatusOK, DurationMS: 80},
		},
		LastAttempt: fixedNow.Add(-2 * time.Minute), LastDelivery: fixedNow.Add(-2 * time.Minute),
	}
}

func finding(sev detectors.Severity, detector, title string) detectors.Finding {
	return detectors.Finding{
		ID: "fnd_" + title, Detector: detector, Rule: detector + ".test", Severity: sev, Confidence: 0.9,
		Title: title, Summary: title + " was seen.", Evidence: map[string]any{"path": "/secret/path"},
	}
}

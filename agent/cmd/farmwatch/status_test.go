package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent/localapi"
	"github.com/farmwatch/farmwatch/detectors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedNow is the service's clock in the golden answers.
var fixedNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// source is a localapi.Source with fixed facts.
type source struct {
	mu       sync.Mutex
	facts    localapi.Facts
	requests []string
}

func (s *source) Facts() localapi.Facts { s.mu.Lock(); defer s.mu.Unlock(); return s.facts }
func (s *source) RequestCheck(r string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r)
}

// serveFacts serves facts on a socket until the test ends and returns the
// endpoint.
func serveFacts(t *testing.T, facts localapi.Facts) string {
	t.Helper()
	ep := filepath.Join(t.TempDir(), "fw.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&localapi.Server{Source: &source{facts: facts}, Log: zap.NewNop(), Now: func() time.Time { return fixedNow }}).Serve(ctx, ep)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err := localapi.NewClient(ep).Queue(context.Background())
		if err == nil {
			return ep
		}
		if time.Now().After(deadline) {
			t.Fatalf("local API at %s: %v", ep, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// facts of an enrolled agent, connected, last check 3 minutes ago.
func facts(findings ...detectors.Finding) localapi.Facts {
	return localapi.Facts{
		AgentVersion: "1.4.0", StartedAt: fixedNow.Add(-50 * time.Hour), Enrolled: true,
		DeviceID: "fw-00112233445566778899aabbccddeeff", Server: "https://collector.corp.example:8443",
		Detectors: []localapi.DetectorFacts{
			{Name: "colocation", Description: "co-located company laptops", Enabled: true},
			{Name: "geodrift", Description: "location drift", Enabled: true},
			{Name: "kvm", Description: "IP-KVM and capture hardware", Enabled: true},
			{Name: "remoteaccess", Description: "remote-control and RMM tools", Enabled: true},
		},
		LastCheck: fixedNow.Add(-3 * time.Minute), NextCheck: fixedNow.Add(12 * time.Minute),
		Findings: findings,
		Runs: []detectors.RunResult{
			{Name: "kvm", Status: detectors.StatusOK, DurationMS: 14},
			{Name: "remoteaccess", Status: detectors.StatusOK, DurationMS: 95},
		},
		LastAttempt: fixedNow.Add(-3 * time.Minute), LastDelivery: fixedNow.Add(-3 * time.Minute),
	}
}

func fnd(sev detectors.Severity, detector, title, remediation string) detectors.Finding {
	return detectors.Finding{
		ID: "fnd_" + title, Detector: detector, Rule: detector + ".golden", Severity: sev, Confidence: 0.9,
		Title: title, Summary: title + ".", Remediation: remediation, Evidence: map[string]any{"exe": `C:\Users\kim\Downloads\AnyDesk.exe`},
	}
}

func TestStatusGolden(t *testing.T) {
	t.Parallel()
	notEnrolled := localapi.Facts{
		AgentVersion: "1.4.0", StartedAt: fixedNow.Add(-10 * time.Minute), Detectors: facts().Detectors,
		NotEnrolled: "this device is not enrolled (run `farmwatch enroll --server URL --token TOKEN`)",
	}
	unreachable := facts()
	unreachable.LastAttempt, unreachable.LastDelivery = fixedNow.Add(-1*time.Minute), fixedNow.Add(-5*time.Hour)
	unreachable.LastDeliveryError = "Post \"https://collector.corp.example:8443/v1/reports\": dial tcp 203.0.113.7:8443: connect: connection timed out"
	unreachable.Queue = localapi.Queue{Depth: 6, Bytes: 48_000}
	backlog := unreachable
	backlog.LastDelivery = fixedNow.Add(-9 * 24 * time.Hour)
	backlog.Queue = localapi.Queue{Depth: 1480, Bytes: 250 << 20, Dropped: 37}
	refused := facts()
	refused.LastDeliveryError, refused.Refused = "the collector refuses this device: collector answered 403 (revoked): this device was revoked: laptop returned", true
	first := facts()
	first.LastCheck, first.NextCheck, first.Runs, first.LastAttempt, first.LastDelivery = time.Time{}, time.Time{}, nil, time.Time{}, time.Time{}
	first.StartedAt = fixedNow.Add(-20 * time.Second)

	cases := []struct {
		name  string
		facts localapi.Facts
		json  bool
	}{
		{"clean", facts(), false},
		{"clean", facts(), true},
		{"first-check", first, false},
		{"findings-info", facts(fnd(detectors.SeverityInfo, "remoteaccess", "TeamViewer (sanctioned by IT)", "")), false},
		{"findings-low", facts(fnd(detectors.SeverityLow, "remoteaccess", "OpenSSH server listening", "")), false},
		{"findings-medium", facts(fnd(detectors.SeverityMedium, "kvm", "A display reports a capture-chip EDID", "Unplug the HDMI device if you do not know it.")), false},
		{"findings-high", facts(fnd(detectors.SeverityHigh, "remoteaccess", "AnyDesk is running from a Downloads folder", "Quit and uninstall AnyDesk unless IT installed it.")), false},
		{"findings-critical", facts(
			fnd(detectors.SeverityCritical, "kvm", "A PiKVM is attached as keyboard and mouse", "Unplug the device and tell your security team."),
			fnd(detectors.SeverityMedium, "remoteaccess", "RustDesk is installed", ""),
			fnd(detectors.SeverityInfo, "remoteaccess", "TeamViewer (sanctioned by IT)", ""),
		), false},
		{"not-enrolled", notEnrolled, false},
		{"collector-unreachable", unreachable, false},
		{"queue-backlog", backlog, false},
		{"refused", refused, false},
	}
	for _, c := range cases {
		name := c.name + ".txt"
		if c.json {
			name = c.name + ".json"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ep := serveFacts(t, c.facts)
			args := []string{"status", "--endpoint", ep}
			if c.json {
				args = append(args, "--json")
			}
			var out, errb bytes.Buffer
			if code := Main(context.Background(), args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			got := out.Bytes()
			if c.json {
				// can_check_now depends on who runs the test: root may.
				var st localapi.Status
				if err := json.Unmarshal(got, &st); err != nil {
					t.Fatal(err)
				}
				if st.CanCheckNow != (os.Geteuid() == 0) {
					t.Errorf("can_check_now %v as uid %d", st.CanCheckNow, os.Geteuid())
				}
				st.CanCheckNow = false
				var err error
				if got, err = json.MarshalIndent(st, "", "  "); err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
			}
			golden(t, filepath.Join("testdata", "status", name), got)
			if strings.Contains(out.String(), "Downloads\\AnyDesk.exe") {
				t.Error("status shows finding evidence")
			}
		})
	}
}

// golden compares got with the golden file, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestStatusNotRunning(t *testing.T) {
	t.Parallel()
	ep := filepath.Join(t.TempDir(), "nothing.sock")
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"status", "--endpoint", ep}, &out, &errb)
	if code != exitNotRunning || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	if want := "farmwatch: " + notRunningMessage(runtime.GOOS) + "\n"; errb.String() != want {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
	out.Reset()
	errb.Reset()
	if code := Main(context.Background(), []string{"status", "--json", "--endpoint", ep}, &out, &errb); code != exitNotRunning {
		t.Fatalf("--json: exit %d", code)
	}
	var st localapi.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Running || st.Level != localapi.LevelError || len(st.Lines) != 1 {
		t.Errorf("--json when not running: %s (%v)", out.String(), err)
	}
}

func TestStatusBadEndpointIsUsage(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"status", "--endpoint", "relative.sock"}, &out, &errb); code != exitUsage {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

func TestNotRunningMessagePerOS(t *testing.T) {
	t.Parallel()
	for _, goos := range []string{"linux", "darwin", "windows"} {
		m := notRunningMessage(goos)
		if !strings.HasPrefix(m, "the farmwatch service is not running; start it") || !strings.Contains(m, "farmwatch service start") {
			t.Errorf("%s: %q", goos, m)
		}
	}
}

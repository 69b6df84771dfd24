package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/agent/localapi"
	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// testCollector starts a real collector in this process (a test-only
// dependency) and enrolls a fresh state directory with it.
func testCollector(t *testing.T) (ts *httptest.Server, st store.Store, stateDir string) {
	t.Helper()
	ctx := context.Background()
	res, err := server.Initialize(ctx, server.InitOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, cfg.DatabaseDSN(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(cfg, st, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ts = httptest.NewUnstartedServer(srv.AgentHandler())
	ts.TLS = srv.AgentTLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca, err := os.ReadFile(res.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	tok, id, hash, err := auth.NewSecret(auth.EnrollPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, store.EnrollToken{ID: id, SecretHash: hash, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), MaxUses: 1}); err != nil {
		t.Fatal(err)
	}
	stateDir = filepath.Join(t.TempDir(), "state")
	if _, err := transport.Enroll(ctx, transport.EnrollOptions{Server: ts.URL, Token: tok, CAPEM: ca, StateDir: stateDir, Hostname: "LT-DOC"}); err != nil {
		t.Fatal(err)
	}
	return ts, st, stateDir
}

func testDoctor(stateDir, endpoint string) *doctor {
	cfg := agent.DefaultConfig("linux", func(string) string { return "" })
	cfg.StateDir = stateDir
	cfg.Detectors.Enabled = []string{"remoteaccess"}
	return &doctor{cfg: cfg, endpoint: endpoint, log: zap.NewNop(), now: time.Now, admin: func() bool { return true },
		host: detectors.SystemHost, timeout: 10 * time.Second}
}

func byName(cs []checkup) map[string]checkup {
	m := map[string]checkup{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

// TestDoctorAgainstRealCollector: enrollment, certificate, collector, TLS
// and clock checkups against a real collector; the service is not running,
// so the queue is skipped and the detector is observed here. Then the
// device is revoked (tls fails), then the collector goes away (collector
// fails).
func TestDoctorAgainstRealCollector(t *testing.T) {
	t.Parallel()
	ts, st, stateDir := testCollector(t)
	d := testDoctor(stateDir, filepath.Join(t.TempDir(), "none.sock"))
	got := byName(d.run(context.Background()))
	want := map[string]string{
		"config": checkOK, "service": checkFail, "enrollment": checkOK, "certificate": checkOK, "collector": checkOK,
		"tls": checkOK, "clock": checkOK, "queue": checkSkip,
	}
	for name, status := range want {
		if got[name].Status != status {
			t.Errorf("%s: %s (%s), want %s", name, got[name].Status, got[name].Detail, status)
		}
	}
	if !strings.Contains(got["tls"].Detail, "TLS 1.3") || !strings.Contains(got["service"].Fix, "farmwatch service start") {
		t.Errorf("tls %q; service fix %q", got["tls"].Detail, got["service"].Fix)
	}
	if r := got["detector:remoteaccess"]; r.Status == checkFail || r.Status == "" || !strings.Contains(r.Detail, "observed here") {
		t.Errorf("detector:remoteaccess %+v", r)
	}

	state, err := transport.LoadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeDevice(context.Background(), state.Enrollment.DeviceID, "laptop returned", time.Now()); err != nil {
		t.Fatal(err)
	}
	d = testDoctor(stateDir, filepath.Join(t.TempDir(), "none.sock"))
	if tls := byName(d.run(context.Background()))["tls"]; tls.Status != checkFail || !strings.Contains(tls.Detail, "revoked") || tls.Fix == "" {
		t.Errorf("tls of a revoked device: %+v", tls)
	}

	ts.Close()
	d = testDoctor(stateDir, filepath.Join(t.TempDir(), "none.sock"))
	got = byName(d.run(context.Background()))
	if got["collector"].Status != checkFail || got["tls"].Status != checkFail || got["clock"].Status != checkSkip {
		t.Errorf("collector gone: collector %+v, tls %+v, clock %+v", got["collector"], got["tls"], got["clock"])
	}
}

// TestDoctorReadsTheService: with the service running, the queue and the
// detectors come from its answers.
func TestDoctorReadsTheService(t *testing.T) {
	t.Parallel()
	f := facts()
	f.Queue = localapi.Queue{Depth: 3, Dropped: 2}
	f.Runs = []detectors.RunResult{
		{Name: "kvm", Status: detectors.StatusOK, Error: "/sys/class/drm: permission denied"},
		{Name: "remoteaccess", Status: detectors.StatusTimeout, Error: "deadline exceeded"},
		{Name: "colocation", Status: detectors.StatusUnsupported},
	}
	ep := serveFacts(t, f)
	d := testDoctor(filepath.Join(t.TempDir(), "absent"), ep)
	got := byName(d.run(context.Background()))
	for name, status := range map[string]string{
		"service": checkOK, "enrollment": checkFail, "permissions": checkFail, "certificate": checkSkip, "collector": checkSkip,
		"queue": checkWarn, "detector:kvm": checkWarn, "detector:remoteaccess": checkFail, "detector:colocation": checkSkip,
	} {
		if got[name].Status != status {
			t.Errorf("%s: %s (%s), want %s", name, got[name].Status, got[name].Detail, status)
		}
	}
	if !strings.Contains(got["detector:kvm"].Detail, "the service's last check") || !strings.Contains(got["enrollment"].Fix, "farmwatch enroll") {
		t.Errorf("kvm %+v; enrollment %+v", got["detector:kvm"], got["enrollment"])
	}
	if _, ran := got["detector:remoteaccess"]; !ran || len(got) != 12 {
		t.Errorf("checkups %d: %v", len(got), got)
	}
}

func TestCertificateCheckup(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	nb := now.Add(-60 * 24 * time.Hour)
	for _, c := range []struct {
		name      string
		notBefore time.Time
		notAfter  time.Time
		want      string
	}{
		{"valid", nb, now.Add(30 * 24 * time.Hour), checkOK},
		{"expires in 3 days", nb, now.Add(3 * 24 * time.Hour), checkWarn},
		{"expired", nb, now.Add(-time.Hour), checkFail},
		{"not yet valid", now.Add(time.Hour), now.Add(90 * 24 * time.Hour), checkFail},
	} {
		got := certificateCheckup(c.notBefore, c.notAfter, c.notAfter, now)
		if got.Status != c.want || (got.Status != checkOK && got.Fix == "") {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}

func TestClockCheckup(t *testing.T) {
	t.Parallel()
	for skew, want := range map[time.Duration]string{
		0: checkOK, 1500 * time.Millisecond: checkOK, -30 * time.Second: checkOK,
		2 * time.Minute: checkWarn, -4 * time.Minute: checkWarn, 6 * time.Minute: checkFail, -2 * time.Hour: checkFail,
	} {
		got := clockCheckup(skew)
		if got.Status != want {
			t.Errorf("skew %v: %+v, want %s", skew, got, want)
		}
		if skew < -time.Minute && !strings.Contains(got.Detail, "behind") {
			t.Errorf("skew %v: %q", skew, got.Detail)
		}
	}
}

func TestQueueCheckup(t *testing.T) {
	t.Parallel()
	up := localapi.Connection{State: localapi.ConnConnected}
	down := localapi.Connection{State: localapi.ConnUnreachable, LastError: "timeout"}
	for _, c := range []struct {
		name string
		q    localapi.Queue
		conn localapi.Connection
		want string
	}{
		{"empty", localapi.Queue{}, up, checkOK},
		{"sending", localapi.Queue{Depth: 4}, up, checkOK},
		{"waiting offline", localapi.Queue{Depth: 4}, down, checkWarn},
		{"backlog", localapi.Queue{Depth: backlogWarn}, up, checkWarn},
		{"drops", localapi.Queue{Dropped: 1}, up, checkWarn},
		{"repaired", localapi.Queue{Recovered: 2, SkippedBytes: 100}, up, checkWarn},
	} {
		if got := queueCheckup(c.q, c.conn); got.Status != c.want || (c.want == checkWarn && got.Fix == "") {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}

func TestStatePermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{transport.KeyFileName, transport.FleetKeyFileName} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("k"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	rootOwned := os.Geteuid() == 0
	if p := statePermProblems(dir, fi); len(p) != map[bool]int{true: 0, false: 1}[rootOwned] {
		t.Errorf("private state directory: %+v", p)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, transport.KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(dir)
	p := statePermProblems(dir, fi)
	var text []string
	for _, x := range p {
		text = append(text, x.problem+" => "+x.fix)
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, "writable by group or others") || !strings.Contains(all, "chmod 600 "+filepath.Join(dir, transport.KeyFileName)) || strings.Contains(all, transport.FleetKeyFileName) {
		t.Errorf("problems:\n%s", all)
	}
}

func TestDoctorExitCode(t *testing.T) {
	t.Parallel()
	// An empty state directory and no service: failures, exit 1.
	_, stderr, code := run(t, "--state-dir", t.TempDir(), "doctor", "--endpoint", filepath.Join(t.TempDir(), "x.sock"), "--json")
	if code != exitFailure || !strings.Contains(stderr, "checkup(s) failed") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

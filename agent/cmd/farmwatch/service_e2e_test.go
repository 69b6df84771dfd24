package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/agent/localapi"
)

// TestServiceEndToEnd runs the real binaries on Linux: a collector
// (farmwatch-collector init, serve, token create), farmwatch enroll, then
// `farmwatch run` in the background with its local API on a socket in a
// temporary directory. It waits for the first delivered check, reads
// `farmwatch status --json` and `farmwatch doctor --json`, stops the agent
// with SIGTERM, and expects `farmwatch status` to say the service is not
// running (exit 4).
func TestServiceEndToEnd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the end-to-end run uses a unix socket and signals; Linux only")
	}
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	t.Parallel()
	dir := t.TempDir()
	collectorBin := filepath.Join(dir, "farmwatch-collector")
	build := exec.Command("go", "build", "-o", collectorBin, "../../../collector/cmd/farmwatch-collector")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build collector: %v\n%s", err, out)
	}
	cdir, state := filepath.Join(dir, "C"), filepath.Join(dir, "A")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agentAddr := l.Addr().String()
	l.Close()
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := l.Addr().String()
	l.Close()
	mustRun(t, exec.Command(collectorBin, "init", "--dir", cdir, "--agent-listen", agentAddr, "--api-listen", apiAddr))
	ccfg := filepath.Join(cdir, "collector.yaml")
	serve := startBackground(t, filepath.Join(dir, "collector.log"), nil, collectorBin, "serve", "--config", ccfg)
	defer stopBackground(t, serve, "collector")
	waitFor(t, "the collector's agent port", func() error {
		c, err := net.DialTimeout("tcp", agentAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(mustRun(t, exec.Command(collectorBin, "token", "create", "--config", ccfg, "--json")), &tok); err != nil {
		t.Fatal(err)
	}

	sock := filepath.Join(dir, "run", "fw.sock")
	cfgPath := filepath.Join(dir, "farmwatch.yaml")
	cfg := fmt.Sprintf("state_dir: %s\nlocal_api:\n  endpoint: %s\ndetectors:\n  enabled: [remoteaccess]\nschedule:\n  triggers: false\n", state, sock)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), agent.EnvConfig + "=" + cfgPath}
	fw := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return o.String(), e.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), 0
	}
	// Not enrolled yet: the service stays up and says so (instead of
	// failing and being restarted in a loop), and stops cleanly.
	unenrolled := startBackground(t, filepath.Join(dir, "unenrolled.log"), env, binary, "run")
	waitFor(t, "farmwatch status --json of a service that is not enrolled", func() error {
		out, stderr, code := fw("status", "--json")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, stderr)
		}
		var st localapi.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return err
		}
		if !st.Running || st.Enrolled || st.Connection.State != localapi.ConnNotEnrolled || st.CanCheckNow {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	stopBackground(t, unenrolled, "farmwatch run (not enrolled)")

	if _, stderr, code := fw("enroll", "--server", "https://"+agentAddr, "--token", tok.Token, "--ca", filepath.Join(cdir, "ca.pem")); code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, stderr)
	}
	if _, stderr, code := fw("status"); code != exitNotRunning || !strings.Contains(stderr, "not running") {
		t.Fatalf("status before run: exit %d: %s", code, stderr)
	}

	agentProc := startBackground(t, filepath.Join(dir, "agent.log"), env, binary, "run")
	var st localapi.Status
	waitFor(t, "the first delivered check in farmwatch status --json", func() error {
		out, stderr, code := fw("status", "--json")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, stderr)
		}
		st = localapi.Status{}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return err
		}
		if st.LastCheck.IsZero() || st.Connection.State != localapi.ConnConnected || st.Queue.Depth != 0 {
			return fmt.Errorf("last check %v, connection %q, queue %d", st.LastCheck, st.Connection.State, st.Queue.Depth)
		}
		return nil
	})
	if !st.Running || !st.Enrolled || st.LastCheckError != "" || st.Level == localapi.LevelError || !st.CanCheckNow {
		t.Errorf("status: %+v", st)
	}
	if time.Since(st.LastCheck) > time.Hour || st.Connection.Server != "https://"+agentAddr {
		t.Errorf("last check %v, server %q", st.LastCheck, st.Connection.Server)
	}
	out, stderr, code := fw("status")
	if code != 0 || !strings.Contains(out, "farmwatch checks this laptop for remote-control tools.") || !strings.Contains(out, "Connected to "+agentAddr) {
		t.Errorf("status: exit %d\n%s%s", code, out, stderr)
	}

	out, stderr, code = fw("doctor", "--json")
	var doc struct {
		OK     bool      `json:"ok"`
		Checks []checkup `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("doctor --json (exit %d): %v\n%s\n%s", code, err, out, stderr)
	}
	got := byName(doc.Checks)
	for _, name := range []string{"service", "enrollment", "certificate", "collector", "tls", "clock", "queue"} {
		if got[name].Status != checkOK {
			t.Errorf("doctor %s: %+v", name, got[name])
		}
	}
	if d := got["detector:remoteaccess"]; !strings.Contains(d.Detail, "the service's last check") {
		t.Errorf("doctor detector:remoteaccess: %+v", d)
	}

	stopBackground(t, agentProc, "farmwatch run")
	if _, stderr, code := fw("status"); code != exitNotRunning || !strings.Contains(stderr, "the farmwatch service is not running") {
		t.Errorf("status after stop: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func mustRun(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	var e bytes.Buffer
	cmd.Stderr = &e
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, e.String())
	}
	return out
}

// background is a process started by startBackground.
type background struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startBackground(t *testing.T, logPath string, env []string, name string, args ...string) *background {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &background{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { b.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-b.done
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", filepath.Base(logPath), data)
		}
	})
	return b
}

// stopBackground sends SIGTERM and expects a clean exit.
func stopBackground(t *testing.T, b *background, what string) {
	t.Helper()
	if b.cmd.ProcessState != nil {
		return
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal %s: %v", what, err)
	}
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", what, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not stop within 60s of SIGTERM", what)
	}
}

// waitFor polls cond until it returns nil, failing after a minute.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

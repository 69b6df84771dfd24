package remoteaccess

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/detectors"
)

// TestMain lets the test binary act as a fake remote-access server: run as
// "x11vnc" with FARMWATCH_TEST_LISTEN=1 it listens on a loopback port,
// prints it and waits for its stdin to close.
func TestMain(m *testing.M) {
	if os.Getenv("FARMWATCH_TEST_LISTEN") == "1" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLiveHost observes this Linux machine for real: a process named after
// a catalogued VNC server, listening on a socket, must be found through
// gopsutil and the real /proc.
func TestLiveHost(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "x11vnc")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake)
	cmd.Env = append(os.Environ(), "FARMWATCH_TEST_LISTEN=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("helper did not start: %q %v", line, err)
	}
	port := strings.TrimSpace(line)

	h := detectors.SystemHost(zaptest.NewLogger(t))
	d := New(DefaultCatalogue())
	deadline := time.Now().Add(10 * time.Second)
	for {
		obs, _ := d.Observe(t.Context(), h) // systemctl may be absent here: a partial observation is fine
		o := obs.(*Observation)
		findings := d.Evaluate(o, nil, nil)
		for _, f := range findings {
			if f.Evidence["tool"] != "x11vnc" {
				continue
			}
			if f.Rule != RuleUnattended {
				t.Fatalf("x11vnc listening on %s found as %s, want %s: %s", port, f.Rule, RuleUnattended, f.Summary)
			}
			if !strings.Contains(f.Summary, fmt.Sprintf("pid %d", cmd.Process.Pid)) || !strings.Contains(f.Summary, ":"+port) {
				t.Errorf("summary does not name the pid %d and port %s: %s", cmd.Process.Pid, port, f.Summary)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("x11vnc (pid %d, port %s) not found; findings: %v", cmd.Process.Pid, port, rules(findings))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

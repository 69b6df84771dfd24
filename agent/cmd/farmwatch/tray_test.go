package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent"
)

// TestTrayAutostartThroughBinary installs and removes the XDG autostart
// entry of the built binary in a fake home.
func TestTrayAutostartThroughBinary(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the XDG entry is Linux's; other OSes are tested in agent/tray")
	}
	home := t.TempDir()
	empty := filepath.Join(home, "farmwatch.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fw := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, agent.EnvConfig + "=" + empty}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return o.String(), e.String(), cmd.ProcessState.ExitCode()
	}
	entry := filepath.Join(home, ".config", "autostart", "farmwatch-tray.desktop")
	if out, stderr, code := fw("tray", "--install-autostart"); code != 0 || !strings.Contains(out, entry) {
		t.Fatalf("install: exit %d: %s %s", code, out, stderr)
	}
	b, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	self, err := filepath.EvalSymlinks(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Exec="+self+" tray\n") {
		t.Errorf("entry does not start this binary's tray:\n%s", b)
	}
	if out, stderr, code := fw("tray", "--remove-autostart"); code != 0 {
		t.Fatalf("remove: exit %d: %s %s", code, out, stderr)
	}
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Errorf("entry still there: %v", err)
	}
	if _, stderr, code := fw("tray", "--install-autostart", "--remove-autostart"); code != 2 || !strings.Contains(stderr, "exclude each other") {
		t.Errorf("both flags: exit %d %s", code, stderr)
	}
	if _, stderr, code := fw("tray"); code != 1 || !strings.Contains(stderr, "no desktop session") {
		t.Errorf("tray without a desktop session: exit %d %s", code, stderr)
	}
	if _, stderr, code := fw("service", "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown action "frobnicate"`) {
		t.Errorf("service frobnicate: exit %d %s", code, stderr)
	}
}

package svc

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *detectortest.Update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n%s", name, got)
	}
}

var linuxOptions = Options{Executable: "/usr/bin/farmwatch", ConfigPath: "/etc/farmwatch/farmwatch.yaml", StateDir: "/var/lib/farmwatch", LogDir: "/var/log/farmwatch"}

func TestSystemdUnitGolden(t *testing.T) {
	t.Parallel()
	golden(t, "farmwatch.service", SystemdUnit(linuxOptions))
}

func TestLaunchdPlistGolden(t *testing.T) {
	t.Parallel()
	o := Options{Executable: "/usr/local/bin/farmwatch", ConfigPath: "/Library/Application Support/farmwatch/farmwatch.yaml"}
	plist := LaunchdPlist(o)
	golden(t, "farmwatch.plist", plist)
	// Well-formed XML whose ProgramArguments are the binary and run --config.
	dec := xml.NewDecoder(strings.NewReader(plist))
	var strs []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("plist is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "string" {
			var s string
			if err := dec.DecodeElement(&s, &se); err != nil {
				t.Fatal(err)
			}
			strs = append(strs, s)
		}
	}
	want := []string{"farmwatch", "/usr/local/bin/farmwatch", "run", "--config", "/Library/Application Support/farmwatch/farmwatch.yaml"}
	for i, w := range want {
		if i >= len(strs) || strs[i] != w {
			t.Fatalf("plist strings %q, want to start with %q", strs, want)
		}
	}
}

// TestUnitsAreLiteral: kardianos renders the custom files as templates;
// ours must hold no template action, whatever the paths.
func TestUnitsAreLiteral(t *testing.T) {
	t.Parallel()
	o := Options{Executable: "/opt/{{x}}/farmwatch", ConfigPath: "/etc/a b/$HOME%n.yaml"}
	if strings.Contains(SystemdUnit(o), "{{") && !strings.Contains(o.Executable, "{{") {
		t.Error("unit has a template action")
	}
	for _, c := range []struct{ in, want string }{
		{"/usr/bin/farmwatch", "/usr/bin/farmwatch"},
		{"/etc/a b/x.yaml", `"/etc/a b/x.yaml"`},
		{"50%", "50%%"},
		{"$HOME", "$$HOME"},
		{`C:\x "y"`, `"C:\\x \"y\""`},
		{"", `""`},
	} {
		if got := systemdQuote(c.in); got != c.want {
			t.Errorf("systemdQuote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestConfigPerOS(t *testing.T) {
	t.Parallel()
	w := Config("windows", Options{Executable: `C:\Program Files\farmwatch\farmwatch.exe`, ConfigPath: `C:\ProgramData\farmwatch\farmwatch.yaml`})
	if w.Name != "farmwatch" || strings.Join(w.Arguments, " ") != `run --config C:\ProgramData\farmwatch\farmwatch.yaml` {
		t.Errorf("windows config %+v", w)
	}
	if w.Option["DelayedAutoStart"] != false || w.Option["StartType"] != "automatic" || w.Option["OnFailure"] != "restart" {
		t.Errorf("windows options %v", w.Option)
	}
	d := Config("darwin", Options{Executable: "/usr/local/bin/farmwatch"})
	if d.Option["RunAtLoad"] != true || d.Option["KeepAlive"] != true || !strings.Contains(d.Option["LaunchdConfig"].(string), "<key>RunAtLoad</key>\n\t<true/>") {
		t.Errorf("darwin options %v", d.Option)
	}
	l := Config("linux", linuxOptions)
	if strings.Join(l.Arguments, " ") != "run --config /etc/farmwatch/farmwatch.yaml" || l.Option["SystemdScript"] != SystemdUnit(linuxOptions) {
		t.Errorf("linux config %+v", l)
	}
	if got := RunArguments(""); strings.Join(got, " ") != "run" {
		t.Errorf("RunArguments without config = %q", got)
	}
}

// TestSystemdAnalyzeVerify checks the unit with systemd's own verifier.
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("systemd units are Linux only")
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is not installed (apt-get install systemd)")
		}
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	dir := t.TempDir()
	// The verifier checks that ExecStart's binary exists and is executable.
	exe := filepath.Join(dir, "farmwatch")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := linuxOptions
	o.Executable = exe
	unit := filepath.Join(dir, "farmwatch.service")
	if err := os.WriteFile(unit, []byte(SystemdUnit(o)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(sa, "verify", "--man=no", unit)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	// Lines about other units on this host (or a missing systemd as PID 1)
	// are not about ours.
	var ours []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "farmwatch.service") {
			ours = append(ours, l)
		}
	}
	if len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
	t.Logf("systemd-analyze verify: exit %v; %d lines of output, none about farmwatch.service", err, strings.Count(out.String(), "\n"))
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/detectors"
)

// binary is the farmwatch binary built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "farmwatch-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "farmwatch")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build farmwatch: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes the built binary with an empty configuration environment.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// An empty configuration file: built-in defaults apply, whatever the
	// machine's own /etc/farmwatch holds.
	empty := filepath.Join(t.TempDir(), "farmwatch.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), agent.EnvConfig + "=" + empty}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestSnapshotsThroughBinary runs `farmwatch scan --snapshot` over every
// detector's recorded snapshots (detectors/*/testdata/snapshots/NAME.json)
// and checks the rules at medium or above against NAME.rules.
func TestSnapshotsThroughBinary(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../../detectors/*/testdata/snapshots/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no snapshots found: %v", err)
	}
	for _, f := range files {
		detector := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(f))))
		name := detector + "/" + strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantData, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".rules")
			if err != nil {
				t.Fatalf("expected rules: %v", err)
			}
			want := strings.Fields(string(wantData))
			slices.Sort(want)
			out, stderr, code := run(t, "scan", "--snapshot", f, "--json", "--detectors", detector)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res agent.ScanResult
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("scan --json output: %v\n%s", err, out)
			}
			var got []string
			for _, fd := range res.Findings {
				if err := fd.Validate(); err != nil {
					t.Errorf("invalid finding: %v", err)
				}
				if fd.Severity >= detectors.SeverityMedium && !slices.Contains(got, fd.Rule) {
					got = append(got, fd.Rule)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("rules at medium or above = %v, want %v", got, want)
			}
			if len(res.Detectors) != 1 || res.Detectors[0].Name != detector || res.Detectors[0].Status != detectors.StatusOK {
				t.Errorf("detectors = %+v", res.Detectors)
			}
		})
	}
}

func TestScanExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	honeypot := "../../../detectors/remoteaccess/testdata/snapshots/windows-honeypot-crd-pin.json"
	clean := "../../../detectors/remoteaccess/testdata/snapshots/windows-clean.json"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string // substring of the one error line
		stdout string // substring of the output
	}{
		{"report", []string{"scan", "--snapshot", honeypot}, 0, "", "CRITICAL (2)"},
		{"fail-on critical", []string{"scan", "--snapshot", honeypot, "--fail-on", "critical"}, 3, "", "Chrome Remote Desktop"},
		{"fail-on below", []string{"scan", "--snapshot", clean, "--fail-on", "medium"}, 0, "", "Nothing unusual found."},
		{"missing snapshot", []string{"scan", "--snapshot", filepath.Join(dir, "nope.json")}, 2, "no such file", ""},
		{"malformed snapshot", []string{"scan", "--snapshot", write("bad.json", `{"schema":`)}, 2, "malformed", ""},
		{"unknown schema", []string{"scan", "--snapshot", write("v9.json", `{"schema":"farmwatch.snapshot/v9","observations":{}}`)}, 2, "unknown snapshot schema", ""},
		{"bad observation", []string{"scan", "--snapshot", write("obs.json", `{"schema":"farmwatch.snapshot/v1","observations":{"remoteaccess":{"processes":"x"}}}`)}, 2, `observation "remoteaccess"`, ""},
		{"unknown detector", []string{"scan", "--snapshot", clean, "--detectors", "nope"}, 2, `unknown detector "nope"`, ""},
		{"bad fail-on", []string{"scan", "--fail-on", "severe"}, 2, "unknown severity", ""},
		{"unknown flag", []string{"scan", "--frobnicate"}, 2, "unknown flag", ""},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command", ""},
		{"version", []string{"version"}, 0, "", "farmwatch "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, stderr, code := run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, stderr)
			}
			if c.stderr != "" {
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if len(lines) != 1 || !strings.Contains(lines[0], c.stderr) || !strings.HasPrefix(lines[0], "farmwatch: ") {
					t.Errorf("stderr %q, want one line containing %q", stderr, c.stderr)
				}
			}
			if !strings.Contains(out, c.stdout) {
				t.Errorf("stdout lacks %q:\n%s", c.stdout, out)
			}
		})
	}
}

// TestLiveScanAndSnapshot runs the real binary on this host: the snapshot
// it writes must evaluate to the same findings as the live scan of the
// same moment (nothing remote-access-like runs on a CI machine, so both are
// compared by rule).
func TestLiveScanAndSnapshot(t *testing.T) {
	t.Parallel()
	snap := filepath.Join(t.TempDir(), "host.json")
	if _, stderr, code := run(t, "snapshot", "-o", snap, "--detectors", "remoteaccess"); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	s, err := detectors.ParseSnapshot(data)
	if err != nil {
		t.Fatalf("the snapshot written does not parse: %v", err)
	}
	if s.Host.OS != runtime.GOOS || s.Host.Arch != runtime.GOARCH || s.Host.CollectedAt.IsZero() {
		t.Errorf("host section %+v", s.Host)
	}
	if _, ok := s.Observations["remoteaccess"]; !ok {
		t.Fatalf("no remoteaccess observation in %s", data)
	}
	out, stderr, code := run(t, "scan", "--json", "--detectors", "remoteaccess")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var live agent.ScanResult
	if err := json.Unmarshal([]byte(out), &live); err != nil {
		t.Fatal(err)
	}
	if len(live.Detectors) != 1 || live.Detectors[0].Status != detectors.StatusOK || live.Detectors[0].DurationMS <= 0 {
		t.Errorf("live detectors = %+v", live.Detectors)
	}
	out, stderr, code = run(t, "scan", "--json", "--snapshot", snap)
	if code != 0 {
		t.Fatalf("scan --snapshot: exit %d: %s", code, stderr)
	}
	var replay agent.ScanResult
	if err := json.Unmarshal([]byte(out), &replay); err != nil {
		t.Fatal(err)
	}
	if replay.Host != s.Host {
		t.Errorf("replayed host %+v, want %+v", replay.Host, s.Host)
	}
	if a, b := ruleSet(live.Findings), ruleSet(replay.Findings); !slices.Equal(a, b) {
		t.Errorf("live scan found %v, its snapshot %v", a, b)
	}
}

func ruleSet(fs []detectors.Finding) []string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.Rule) {
			out = append(out, f.Rule)
		}
	}
	slices.Sort(out)
	return out
}

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	_ "github.com/farmwatch/farmwatch/detectors/remoteaccess"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "farmwatch.yaml")
	if err := os.WriteFile(file, []byte(`
state_dir: /from/file
log: {level: debug, format: json}
detectors:
  enabled: [remoteaccess]
  timeout: 30s
policy:
  remoteaccess:
    sanctioned:
      - tool: teamviewer
        paths: ["C:/Program Files/TeamViewer"]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// File over defaults.
	cfg, err := LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(nil), ConfigPath: file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/from/file" || cfg.Log.Level != "debug" || cfg.Log.Format != "json" || time.Duration(cfg.Detectors.Timeout) != 30*time.Second || cfg.Detectors.Concurrency != 2 || cfg.Source != file {
		t.Errorf("file config %+v", cfg)
	}
	raw, err := cfg.PolicyJSON("remoteaccess")
	if err != nil || !strings.Contains(string(raw), `"tool":"teamviewer"`) {
		t.Errorf("policy JSON %s %v", raw, err)
	}
	// Environment over file; FARMWATCH_CONFIG names the file.
	cfg, err = LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(map[string]string{
		EnvConfig: file, EnvStateDir: "/from/env", EnvLogLevel: "warn", EnvTimeout: "5s", EnvDetectors: " remoteaccess , ", EnvConcurrency: "4",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/from/env" || cfg.Log.Level != "warn" || time.Duration(cfg.Detectors.Timeout) != 5*time.Second || len(cfg.Detectors.Enabled) != 1 || cfg.Detectors.Concurrency != 4 {
		t.Errorf("env config %+v", cfg)
	}
	// The --config flag beats FARMWATCH_CONFIG.
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte("state_dir: /from/flag-file\n"), 0o644)
	cfg, err = LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(map[string]string{EnvConfig: file}), ConfigPath: other})
	if err != nil || cfg.StateDir != "/from/flag-file" {
		t.Errorf("--config over env: %+v %v", cfg, err)
	}
}

func TestConfigDefaultsPerOS(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"ProgramData": `D:\PD`})
	for goos, want := range map[string]Paths{
		"linux":   {Config: "/etc/farmwatch/farmwatch.yaml", State: "/var/lib/farmwatch", Logs: "/var/log/farmwatch"},
		"darwin":  {Config: "/Library/Application Support/farmwatch/farmwatch.yaml", State: "/Library/Application Support/farmwatch/state", Logs: "/Library/Logs/farmwatch"},
		"windows": {Config: `D:\PD\farmwatch\farmwatch.yaml`, State: `D:\PD\farmwatch\state`, Logs: `D:\PD\farmwatch\logs`},
	} {
		if got := DefaultPaths(goos, env); got != want {
			t.Errorf("%s: %+v, want %+v", goos, got, want)
		}
		if got := DefaultConfig(goos, env).StateDir; got != want.State {
			t.Errorf("%s: default state dir %q", goos, got)
		}
	}
	if got := DefaultPaths("windows", envOf(nil)).State; got != `C:\ProgramData\farmwatch\state` {
		t.Errorf("windows without ProgramData: %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]string{
		"unknown key":      "colour: red\n",
		"bad yaml":         "log: [\n",
		"bad level":        "log: {level: loud}\n",
		"bad format":       "log: {format: xml}\n",
		"bad duration":     "detectors: {timeout: soon}\n",
		"zero timeout":     "detectors: {timeout: 0s}\n",
		"unknown detector": "detectors: {enabled: [nope]}\n",
		"unknown policy":   "policy: {nope: {}}\n",
		"zero concurrency": "detectors: {concurrency: 0}\n",
	}
	for name, body := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(nil), ConfigPath: p}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(nil), ConfigPath: filepath.Join(dir, "missing.yaml")}); err == nil {
		t.Error("a missing explicit config file was accepted")
	}
	if _, err := LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(map[string]string{EnvTimeout: "x"}), ConfigPath: filepath.Join(dir, "unknown_key.yaml")}); err == nil {
		t.Error("accepted")
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	if _, err := LoadConfig(LoadOptions{GOOS: "linux", Getenv: envOf(map[string]string{EnvTimeout: "x"}), ConfigPath: empty}); err == nil {
		t.Error("a bad FARMWATCH_DETECTOR_TIMEOUT was accepted")
	}
}

// TestExampleConfigLoads keeps the annotated example that packages ship
// (packaging/config/farmwatch.yaml) valid: every key known, every detector
// section accepted by its detector.
func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(LoadOptions{GOOS: "linux", Getenv: func(string) string { return "" }, ConfigPath: filepath.Join("..", "packaging", "config", "farmwatch.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"remoteaccess", "colocation", "geodrift"} {
		raw, err := cfg.PolicyJSON(name)
		if err != nil {
			t.Fatalf("policy.%s: %v", name, err)
		}
		info, ok := detectors.Lookup(name)
		if !ok {
			t.Fatalf("detector %s not registered in this test binary", name)
		}
		if _, err := info.New().DecodePolicy(raw); err != nil || len(raw) == 0 {
			t.Errorf("policy.%s (%s): %v", name, raw, err)
		}
	}
}

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
	"testing"
	"time"
)

// bin holds the farmwatch and farmwatch-collector binaries built once.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "farmwatch-collector-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	for _, pkg := range []string{".", "../../../agent/cmd/farmwatch"} {
		build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), pkg)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func exe(name string) string {
	p := filepath.Join(bin, name)
	if runtime.GOOS == "windows" {
		p += ".exe"
	}
	return p
}

// cmdResult is one finished command.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// sh runs a built binary; an empty agent configuration keeps the
// machine's own /etc/farmwatch out of the test.
// loopbackOnly is an agent configuration whose checks send nothing to the
// LAN.
const loopbackOnly = "policy:\n  colocation:\n    mdns: false\n    beacon: false\n"

func sh(t *testing.T, name string, args ...string) cmdResult {
	t.Helper()
	// The agents' configuration keeps the test's traffic on loopback: no
	// mDNS browse and no peer beacon on this machine's LAN (colocation is
	// proven in network namespaces by make test-netns).
	agentCfg := filepath.Join(t.TempDir(), "farmwatch.yaml")
	if err := os.WriteFile(agentCfg, []byte(loopbackOnly), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe(name), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "FARMWATCH_CONFIG=" + agentCfg, "HOME=" + t.TempDir()}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := cmdResult{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

func must(t *testing.T, r cmdResult, what string) cmdResult {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs `farmwatch-collector serve` until the test ends and
// waits until the agent port accepts connections.
func startServe(t *testing.T, cfg, agentAddr string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe("farmwatch-collector"), "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("serve did not stop on SIGINT within 15s")
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("serve log:\n%s", b)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", agentAddr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("collector not listening on %s: %v\n%s", agentAddr, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWalkthrough runs the walkthrough of docs/collector.md with the real
// binaries: init, serve, token, enroll, run --once, devices, alerts; then
// four simulated laptops of other owners behind the same public address,
// two with a PiKVM attached, which the collector reports as one farm.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	C, A := filepath.Join(t.TempDir(), "C"), filepath.Join(t.TempDir(), "A")
	agentAddr, apiAddr := freePort(t), freePort(t)
	out := must(t, sh(t, "farmwatch-collector", "init", "--dir", C, "--agent-listen", agentAddr, "--api-listen", apiAddr), "init")
	if !strings.Contains(out.stdout, "admin password") {
		t.Errorf("init output lacks the admin password:\n%s", out.stdout)
	}
	cfg := filepath.Join(C, "collector.yaml")
	if r := sh(t, "farmwatch-collector", "init", "--dir", C); r.code != exitUsage || !strings.Contains(r.stderr, "already initialised") {
		t.Errorf("second init: exit %d %s", r.code, r.stderr)
	}
	// Every simulated laptop reaches this collector from 127.0.0.1, which
	// stands for the farm's shared public address: let loopback join.
	labConfig(t, cfg)
	startServe(t, cfg, agentAddr)

	var tok struct {
		Token string `json:"token"`
		ID    string `json:"id"`
	}
	r := must(t, sh(t, "farmwatch-collector", "token", "create", "--config", cfg, "--json"), "token create")
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || !strings.HasPrefix(tok.Token, "fwe_") {
		t.Fatalf("token create --json: %q %v", r.stdout, err)
	}
	server := "https://" + agentAddr
	must(t, sh(t, "farmwatch", "--state-dir", A, "enroll", "--server", server, "--token", tok.Token, "--ca", filepath.Join(C, "ca.pem")), "enroll")
	r = must(t, sh(t, "farmwatch", "--state-dir", A, "run", "--once"), "run --once")
	if !strings.Contains(r.stdout, "delivered") {
		t.Errorf("run --once output: %s", r.stdout)
	}

	var devices []struct {
		ID       string  `json:"id"`
		Hostname string  `json:"hostname"`
		LastSeen *string `json:"last_seen"`
		PublicIP string  `json:"public_ip"`
	}
	r = must(t, sh(t, "farmwatch-collector", "devices", "list", "--config", cfg, "--json"), "devices list")
	if err := json.Unmarshal([]byte(r.stdout), &devices); err != nil || len(devices) != 1 || devices[0].LastSeen == nil || devices[0].PublicIP != "127.0.0.1" {
		t.Fatalf("devices list --json: %s (%v)", r.stdout, err)
	}
	var alerts []map[string]any
	r = must(t, sh(t, "farmwatch-collector", "alerts", "list", "--config", cfg, "--json"), "alerts list")
	if err := json.Unmarshal([]byte(r.stdout), &alerts); err != nil {
		t.Fatalf("alerts list --json: %s (%v)", r.stdout, err)
	}
	// The used token is spent.
	if r := sh(t, "farmwatch", "--state-dir", t.TempDir(), "enroll", "--server", server, "--token", tok.Token, "--ca", filepath.Join(C, "ca.pem")); r.code == 0 || !strings.Contains(r.stderr, "bad_token") {
		t.Errorf("reused token: exit %d %s", r.code, r.stderr)
	}

	// A farm: four more laptops of other owners on the same network, two
	// with a PiKVM plugged in.
	pikvm := filepath.Join("..", "..", "..", "detectors", "kvm", "testdata", "snapshots", "pikvm.json")
	clean := filepath.Join("..", "..", "..", "detectors", "kvm", "testdata", "snapshots", "clean_docked_laptop.json")
	for i, owner := range []string{"bob@corp.example", "carol@corp.example", "dave@corp.example", "erin@corp.example"} {
		r := must(t, sh(t, "farmwatch-collector", "token", "create", "--config", cfg, "--json", "--owner", owner), "token create")
		json.Unmarshal([]byte(r.stdout), &tok)
		dir := filepath.Join(t.TempDir(), owner)
		must(t, sh(t, "farmwatch", "--state-dir", dir, "enroll", "--server", server, "--token", tok.Token, "--ca", filepath.Join(C, "ca.pem"), "--hostname", fmt.Sprintf("LT-%04d", i+2)), "enroll "+owner)
		snap := clean
		if i%2 == 0 {
			snap = pikvm
		}
		must(t, sh(t, "farmwatch", "--state-dir", dir, "run", "--once", "--snapshot", snap), "run --once "+owner)
	}
	var farm map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for farm == nil && time.Now().Before(deadline) {
		r = must(t, sh(t, "farmwatch-collector", "alerts", "list", "--config", cfg, "--json", "--kind", "farm"), "alerts list")
		alerts = nil
		if err := json.Unmarshal([]byte(r.stdout), &alerts); err != nil {
			t.Fatal(err)
		}
		if len(alerts) > 0 {
			farm = alerts[0]
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if farm == nil {
		t.Fatal("no farm alert within 30s")
	}
	if members, _ := farm["members"].([]any); len(members) != 5 || farm["severity"] != "critical" && farm["severity"] != "high" {
		t.Errorf("farm alert: %v", farm)
	}
	r = must(t, sh(t, "farmwatch-collector", "alerts", "list", "--config", cfg, "--json", "--kind", "finding"), "alerts list")
	if !strings.Contains(r.stdout, "PiKVM") {
		t.Errorf("no PiKVM finding alert:\n%s", r.stdout)
	}
	id := fmt.Sprint(farm["id"])
	must(t, sh(t, "farmwatch-collector", "alerts", "ack", id, "--config", cfg, "--as", "analyst1"), "alerts ack")
	r = must(t, sh(t, "farmwatch-collector", "alerts", "list", "--config", cfg, "--json", "--status", "acknowledged"), "alerts list")
	if !strings.Contains(r.stdout, `"id": `+id) {
		t.Errorf("acknowledged alert not listed: %s", r.stdout)
	}

	// Revoking the first device stops its reports.
	must(t, sh(t, "farmwatch-collector", "devices", "revoke", devices[0].ID, "--reason", "laptop returned", "--config", cfg), "devices revoke")
	if r := sh(t, "farmwatch", "--state-dir", A, "run", "--once", "--timeout", "20s"); r.code != 1 || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("revoked device run --once: exit %d\n%s", r.code, r.stderr)
	}
	r = must(t, sh(t, "farmwatch-collector", "devices", "show", devices[0].ID, "--config", cfg), "devices show")
	if !strings.Contains(r.stdout, "REVOKED") {
		t.Errorf("devices show: %s", r.stdout)
	}
}

// labConfig sets correlation.include_private_ips in a collector.yaml.
func labConfig(t *testing.T, cfg string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lab := strings.Replace(string(b), "include_private_ips: false", "include_private_ips: true", 1)
	if lab == string(b) {
		t.Fatal("collector.yaml has no include_private_ips line")
	}
	if err := os.WriteFile(cfg, []byte(lab), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdminCommands covers the remaining listings and their refusals.
func TestAdminCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	C := filepath.Join(t.TempDir(), "C")
	must(t, sh(t, "farmwatch-collector", "init", "--dir", C, "--agent-listen", freePort(t), "--api-listen", freePort(t)), "init")
	cfg := filepath.Join(C, "collector.yaml")

	r := must(t, sh(t, "farmwatch-collector", "token", "create", "--config", cfg, "--uses", "3", "--expires", "2h", "--note", "intune"), "token create")
	tok := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0])
	r = must(t, sh(t, "farmwatch-collector", "token", "list", "--config", cfg), "token list")
	if !strings.Contains(r.stdout, "active") || !strings.Contains(r.stdout, "0/3") || !strings.Contains(r.stdout, "intune") {
		t.Errorf("token list:\n%s", r.stdout)
	}
	must(t, sh(t, "farmwatch-collector", "token", "revoke", tok, "--config", cfg), "token revoke")
	r = must(t, sh(t, "farmwatch-collector", "token", "list", "--config", cfg, "--json"), "token list")
	if !strings.Contains(r.stdout, `"revoked": true`) {
		t.Errorf("token list --json after revoke:\n%s", r.stdout)
	}

	roster := filepath.Join(t.TempDir(), "roster.csv")
	os.WriteFile(roster, []byte("owner,display_name,city,country,latitude,longitude,time_zone,devices\nalice@corp.example,Alice,Denver,US,39.74,-104.99,America/Denver,LT-0001\n"), 0o644)
	r = must(t, sh(t, "farmwatch-collector", "roster", "import", roster, "--config", cfg, "--json"), "roster import")
	if !strings.Contains(r.stdout, `"owners": 1`) {
		t.Errorf("roster import: %s", r.stdout)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("owner,country,latitude,longitude\nbob@x,US,1,2\n,US,100,2\n"), 0o644)
	if r := sh(t, "farmwatch-collector", "roster", "import", bad, "--config", cfg); r.code != exitUsage || !strings.Contains(r.stderr, "line 3") {
		t.Errorf("bad roster: exit %d %s", r.code, r.stderr)
	}

	r = must(t, sh(t, "farmwatch-collector", "user", "add", "ana", "--role", "analyst", "--config", cfg, "--json"), "user add")
	var u struct {
		Name, Role, Password string
		APIToken             string `json:"api_token"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.Role != "analyst" || len(u.Password) < 12 || !strings.HasPrefix(u.APIToken, "fwa_") {
		t.Errorf("user add --json: %s %v", r.stdout, err)
	}
	if r := sh(t, "farmwatch-collector", "user", "add", "ana", "--role", "analyst", "--config", cfg); r.code != exitUsage {
		t.Errorf("duplicate user: exit %d %s", r.code, r.stderr)
	}
	if r := sh(t, "farmwatch-collector", "user", "add", "x", "--role", "boss", "--config", cfg); r.code != exitUsage {
		t.Errorf("bad role: exit %d", r.code)
	}
	if r := sh(t, "farmwatch-collector", "devices", "list"); r.code != exitUsage || !strings.Contains(r.stderr, "--config") {
		t.Errorf("no --config: exit %d %s", r.code, r.stderr)
	}
	if r := sh(t, "farmwatch-collector", "devices", "show", "fw-nope", "--config", cfg); r.code != exitUsage {
		t.Errorf("unknown device: exit %d %s", r.code, r.stderr)
	}
	r = must(t, sh(t, "farmwatch-collector", "version"), "version")
	if !strings.HasPrefix(r.stdout, "farmwatch-collector ") {
		t.Errorf("version: %s", r.stdout)
	}
}

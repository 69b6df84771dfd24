//go:build netns

package netns

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runRole(ctx, role)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, role+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The LAN: 10.213.0.0/24 on a bridge in its own namespace.
const (
	subnet        = "10.213.0"
	collectorAddr = subnet + ".10"
	kvmAddr       = subnet + ".20"
	kvmMAC        = "30:52:53:00:00:20" // a JetKVM block
	forgerAddr    = subnet + ".30"
)

// lab is the namespaces and processes of one run.
type lab struct {
	t      *testing.T
	prefix string
	dir    string
	bin    string
	procs  []*exec.Cmd
}

// requirePrivileges skips (or, in CI, fails) without what `ip netns` needs.
func requirePrivileges(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "it must run as root (ip netns needs CAP_NET_ADMIN and CAP_SYS_ADMIN)"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "iproute2's ip is not installed"
	} else {
		probe := fmt.Sprintf("fwprobe%d", os.Getpid()%100000)
		if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
			why = fmt.Sprintf("ip netns add failed: %v: %s", err, bytes.TrimSpace(out))
		} else {
			exec.Command("ip", "netns", "del", probe).Run()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("netns test cannot run in CI: %s", why)
	}
	t.Skipf("netns test skipped: %s", why)
}

func (l *lab) run(name string, args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in namespace ns (empty: the test's own) and returns
// its standard output.
func (l *lab) in(ns string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ns != "" {
		args = append([]string{"netns", "exec", l.prefix + ns, name}, args...)
		name = "ip"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = l.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (l *lab) env() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.dir, "FARMWATCH_CONFIG=" + filepath.Join(l.dir, "farmwatch.yaml")}
}

// start runs a long-lived process in ns, logging to dir/<log>.log.
func (l *lab) start(ns, log string, extraEnv []string, name string, args ...string) {
	l.t.Helper()
	f, err := os.Create(filepath.Join(l.dir, log+".log"))
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.prefix + ns, name}, args...)...)
	cmd.Env = append(l.env(), extraEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.procs = append(l.procs, cmd)
}

// stop interrupts every process (newest first) and waits for it.
func (l *lab) stop() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		p := l.procs[i]
		p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	l.procs = nil
}

// topology builds the bridge namespace and one namespace per host.
func (l *lab) topology(hosts map[string]string) {
	l.run("ip", "netns", "add", l.prefix+"sw")
	l.run("ip", "-n", l.prefix+"sw", "link", "add", l.prefix+"br", "type", "bridge", "mcast_snooping", "0")
	l.run("ip", "-n", l.prefix+"sw", "link", "set", l.prefix+"br", "up")
	for _, h := range slices.Sorted(maps.Keys(hosts)) {
		ns, veth, peer := l.prefix+h, l.prefix+h+"e", l.prefix+h+"p"
		l.run("ip", "netns", "add", ns)
		l.run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
		l.run("ip", "link", "set", veth, "netns", ns)
		l.run("ip", "link", "set", peer, "netns", l.prefix+"sw")
		l.run("ip", "-n", l.prefix+"sw", "link", "set", peer, "master", l.prefix+"br")
		l.run("ip", "-n", l.prefix+"sw", "link", "set", peer, "up")
		if h == "k" {
			l.run("ip", "-n", ns, "link", "set", veth, "address", kvmMAC)
		}
		l.run("ip", "-n", ns, "addr", "add", hosts[h]+"/24", "dev", veth)
		l.run("ip", "-n", ns, "link", "set", veth, "up")
		l.run("ip", "-n", ns, "link", "set", "lo", "up")
	}
}

// policy is the fleet policy of the run: only the colocation detector,
// a short beacon interval, a peer threshold of two, and the ARP sweep.
const policy = `policy:
  detectors: [colocation]
  scan_interval: 1m
  heartbeat_interval: 15m
  settings:
    colocation:
      peer_threshold: 2
      beacon_interval: 5s
      peer_window: 2m
      mdns_duration: 2s
      arp_sweep: true
      sweep_rate: 500
`

type device struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
}

type shown struct {
	Device struct {
		ID      string `json:"id"`
		Network struct {
			Peers []struct {
				DeviceID string `json:"device_id"`
				Via      string `json:"via"`
				At       string `json:"at"`
			} `json:"peers"`
			Beacons *struct {
				Sent     uint64            `json:"sent"`
				Accepted uint64            `json:"accepted"`
				Rejected map[string]uint64 `json:"rejected"`
			} `json:"beacons"`
		} `json:"network"`
	} `json:"device"`
	Findings []struct {
		Rule     string          `json:"rule"`
		Severity string          `json:"severity"`
		Finding  json.RawMessage `json:"finding"`
	} `json:"findings"`
}

// TestLANFarm: three agents of one fleet on one bridge each report exactly
// their two peers, find the KVM host posing as a PiKVM with a JetKVM MAC,
// and count the forger's beacons as rejected by reason.
func TestLANFarm(t *testing.T) {
	requirePrivileges(t)
	start := time.Now()
	l := &lab{t: t, prefix: fmt.Sprintf("fw%d", os.Getpid()%100000), dir: t.TempDir()}
	t.Cleanup(func() {
		l.stop()
		for _, ns := range []string{"sw", "c", "a1", "a2", "a3", "k", "f"} {
			exec.Command("ip", "netns", "del", l.prefix+ns).Run()
		}
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(l.dir, "*.log"))
			for _, f := range logs {
				b, _ := os.ReadFile(f)
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("--- %s\n%s", filepath.Base(f), b)
			}
		}
	})
	if err := os.WriteFile(filepath.Join(l.dir, "farmwatch.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l.bin = filepath.Join(l.dir, "bin")
	for _, pkg := range []string{"../../../agent/cmd/farmwatch", "../../../collector/cmd/farmwatch-collector"} {
		cmd := exec.Command("go", "build", "-o", l.bin+string(os.PathSeparator), pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	t.Logf("binaries built in %s", time.Since(start).Round(time.Second))
	agent, collector := filepath.Join(l.bin, "farmwatch"), filepath.Join(l.bin, "farmwatch-collector")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	l.topology(map[string]string{"c": collectorAddr, "a1": subnet + ".11", "a2": subnet + ".12", "a3": subnet + ".13", "k": kvmAddr, "f": forgerAddr})

	// The collector, with the run's fleet policy.
	C := filepath.Join(l.dir, "collector")
	l.run(collector, "init", "--dir", C, "--name", collectorAddr, "--agent-listen", collectorAddr+":8443", "--api-listen", collectorAddr+":8444")
	cfg := filepath.Join(C, "collector.yaml")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withPolicy := regexp.MustCompile(`(?ms)^policy:\n.*?^log:`).ReplaceAllString(string(raw), policy+"\nlog:")
	if withPolicy == string(raw) {
		t.Fatal("collector.yaml has no policy section to replace")
	}
	if err := os.WriteFile(cfg, []byte(withPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	l.start("c", "collector", nil, collector, "serve", "--config", cfg)

	// The KVM appliance and the forger start first, so that the forger
	// hears the agents' first beacons.
	l.start("k", "kvm", []string{roleEnv + "=kvm", "FARMWATCH_NETNS_IFACE=" + l.prefix + "ke", "FARMWATCH_NETNS_ADDR=" + kvmAddr}, self, "-test.run=^$")
	l.start("f", "forger", []string{roleEnv + "=forger", "FARMWATCH_NETNS_IFACE=" + l.prefix + "fe", "FARMWATCH_NETNS_BROADCAST=" + subnet + ".255"}, self, "-test.run=^$")

	// Three agents enroll, each with its own token, then run.
	agents := []string{"a1", "a2", "a3"}
	for _, a := range agents {
		var tok struct {
			Token string `json:"token"`
		}
		out := l.run(collector, "token", "create", "--config", cfg, "--json")
		if err := json.Unmarshal([]byte(out), &tok); err != nil {
			t.Fatalf("token create: %v: %s", err, out)
		}
		state := filepath.Join(l.dir, a)
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := l.in(a, agent, "--state-dir", state, "enroll", "--server", "https://"+collectorAddr+":8443",
				"--token", tok.Token, "--ca", filepath.Join(C, "ca.pem"), "--hostname", "laptop-"+a)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("enroll %s: %v", a, err)
			}
			time.Sleep(200 * time.Millisecond) // the collector is still starting
		}
	}
	for _, a := range agents {
		l.start(a, a, nil, agent, "--state-dir", filepath.Join(l.dir, a), "run")
	}

	var devices []device
	if err := json.Unmarshal([]byte(l.run(collector, "devices", "list", "--config", cfg, "--json")), &devices); err != nil || len(devices) != 3 {
		t.Fatalf("devices list: %v %+v", err, devices)
	}
	ids := map[string]string{}
	for _, d := range devices {
		ids[d.ID] = d.Hostname
	}

	// Wait until every agent reported what it heard: the first check
	// usually does; the second (one scan interval later) at the latest.
	deadline := time.Now().Add(100 * time.Second)
	var problems []string
	for {
		problems = problems[:0]
		for _, d := range devices {
			out, err := l.in("", collector, "devices", "show", d.ID, "--config", cfg, "--json")
			if err != nil {
				t.Fatal(err)
			}
			var s shown
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatalf("devices show: %v: %s", err, out)
			}
			problems = append(problems, check(s, d, ids)...)
		}
		t.Logf("%s: %d things still missing", time.Since(start).Round(time.Second), len(problems))
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("reports checked %s after the start", time.Since(start).Round(time.Second))
	for _, p := range problems {
		t.Error(p)
	}

	// colocation.peers is high: each device raised an alert.
	var alerts []struct {
		Title    string          `json:"title"`
		Members  []string        `json:"members"`
		Evidence json.RawMessage `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(l.run(collector, "alerts", "list", "--config", cfg, "--json")), &alerts); err != nil {
		t.Fatal(err)
	}
	alerted := map[string]bool{}
	for _, a := range alerts {
		if bytes.Contains(a.Evidence, []byte(`"colocation.peers"`)) {
			for _, m := range a.Members {
				alerted[m] = true
			}
		}
	}
	for id, host := range ids {
		if !alerted[id] {
			t.Errorf("%s (%s): no colocation.peers alert", host, id)
		}
	}
}

// check lists what device d's latest state lacks.
func check(s shown, d device, ids map[string]string) []string {
	var out []string
	name := d.Hostname
	var heard []string
	for _, p := range s.Device.Network.Peers {
		heard = append(heard, p.DeviceID)
		if p.Via != "multicast" && p.Via != "broadcast" || p.At == "" {
			out = append(out, fmt.Sprintf("%s: peer %+v lacks how or when", name, p))
		}
	}
	slices.Sort(heard)
	var want []string
	for id := range ids {
		if id != d.ID {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	if !slices.Equal(heard, want) {
		out = append(out, fmt.Sprintf("%s: heard peers %v, want exactly %v", name, heard, want))
	}
	b := s.Device.Network.Beacons
	if b == nil {
		out = append(out, name+": no beacon counters")
	} else {
		for _, reason := range []string{"bad_mac", "foreign_fleet", "replayed", "malformed"} {
			if b.Rejected[reason] == 0 {
				out = append(out, fmt.Sprintf("%s: no %s beacon counted (rejected %v)", name, reason, b.Rejected))
			}
		}
		if b.Sent == 0 || b.Accepted == 0 {
			out = append(out, fmt.Sprintf("%s: beacons sent %d accepted %d", name, b.Sent, b.Accepted))
		}
	}
	var peersFinding, pikvm, jetkvm bool
	for _, f := range s.Findings {
		switch f.Rule {
		case "colocation.peers":
			peersFinding = peersFinding || f.Severity == "high"
		case "colocation.kvm_appliance":
			var full struct {
				Evidence map[string]any `json:"evidence"`
			}
			json.Unmarshal(f.Finding, &full)
			if full.Evidence["ip"] == kvmAddr {
				pikvm = pikvm || full.Evidence["vendor"] == "PiKVM"
				jetkvm = jetkvm || full.Evidence["mac_vendor"] == "JetKVM"
			}
		}
	}
	if !peersFinding {
		out = append(out, name+": no high colocation.peers finding")
	}
	if !pikvm || !jetkvm {
		out = append(out, fmt.Sprintf("%s: KVM host not found as PiKVM by mDNS (%v) with a JetKVM MAC (%v)", name, pikvm, jetkvm))
	}
	return out
}

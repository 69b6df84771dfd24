package agent

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// collector starts a real collector (test-only dependency: the agent's
// code never imports the collector) whose policy sanctions AnyDesk.
func collector(t *testing.T) (url string, ca []byte, st store.Store, srv *server.Server) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	res, err := server.Initialize(ctx, server.InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := server.LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte("scan_interval: 2h\nsettings:\n  remoteaccess:\n    sanctioned:\n      - tool: anydesk\n"), &cfg.Policy); err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(ctx, cfg.DatabaseDSN(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err = server.New(cfg, st, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.AgentHandler())
	ts.TLS = srv.AgentTLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca, err = os.ReadFile(res.CAPath)
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL, ca, st, srv
}

// enrolledAgent enrolls a state directory with the collector and opens
// the agent on it.
func enrolledAgent(t *testing.T, url string, ca []byte, st store.Store) *Agent {
	t.Helper()
	tok, id, hash, err := auth.NewSecret(auth.EnrollPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(context.Background(), store.EnrollToken{ID: id, SecretHash: hash, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), MaxUses: 1}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig("linux", func(string) string { return "" })
	cfg.StateDir = t.TempDir()
	// colocation browses mDNS and beacons on the machine's LAN; these tests
	// keep their traffic on loopback (colocation is proven in network
	// namespaces by make test-netns). geodrift probes no landmark by default.
	cfg.Detectors.Enabled = []string{"geodrift", "kvm", "remoteaccess"}
	if _, err := transport.Enroll(context.Background(), transport.EnrollOptions{Server: url, Token: tok, CAPEM: ca, StateDir: cfg.StateDir, Hostname: "LT-7"}); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAgent(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func honeypot(t *testing.T) *detectors.Snapshot {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "detectors", "remoteaccess", "testdata", "snapshots", "windows-honeypot-crd-pin.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, err := detectors.ReadSnapshot(f)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestRunOnceAppliesFleetPolicy: the agent fetches the fleet policy, keeps
// it on disk, evaluates with it (AnyDesk sanctioned), delivers, and the
// collector records the policy version the agent runs.
func TestRunOnceAppliesFleetPolicy(t *testing.T) {
	t.Parallel()
	url, ca, st, srv := collector(t)
	a := enrolledAgent(t, url, ca, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, n, err := a.RunOnce(ctx, honeypot(t))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("delivered %d reports, want 1", n)
	}
	if a.PolicyVersion() != srv.Policy().Version {
		t.Fatalf("agent runs policy %q, collector serves %q", a.PolicyVersion(), srv.Policy().Version)
	}
	if scan, _ := a.intervals(); scan != 2*time.Hour {
		t.Errorf("scan interval %v, want the policy's 2h", scan)
	}
	for _, f := range res.Findings {
		if strings.Contains(f.Rule, "anydesk") || (strings.Contains(strings.ToLower(f.Title), "anydesk") && f.Severity > detectors.SeverityInfo) {
			t.Errorf("sanctioned AnyDesk still reported above info: %s %s", f.Rule, f.Severity)
		}
	}
	dev, err := st.GetDevice(ctx, a.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	if dev.PolicyVersion != srv.Policy().Version || dev.LastSeq != 1 {
		t.Errorf("collector sees policy %q seq %d", dev.PolicyVersion, dev.LastSeq)
	}
	saved, err := transport.LoadPolicy(a.Config.StateDir)
	if err != nil || saved == nil || saved.Version != srv.Policy().Version {
		t.Errorf("policy on disk: %+v %v", saved, err)
	}
}

// TestPolicyRefusedKeepsLastGood: a policy whose version does not match
// its content, or that a detector cannot decode, is refused.
func TestPolicyRefusedKeepsLastGood(t *testing.T) {
	t.Parallel()
	a := &Agent{}
	good := transport.FleetPolicy{ScanInterval: "30m", Settings: map[string]json.RawMessage{"remoteaccess": json.RawMessage(`{"sanctioned":[{"tool":"anydesk"}]}`)}}
	v, _ := transport.PolicyVersion(good)
	if err := a.checkPolicy(&transport.PolicyDoc{Version: v, Policy: good}); err != nil {
		t.Fatalf("good policy refused: %v", err)
	}
	badTool := transport.FleetPolicy{Settings: map[string]json.RawMessage{"remoteaccess": json.RawMessage(`{"sanctioned":[{"tool":"no-such-tool"}]}`)}}
	bv, _ := transport.PolicyVersion(badTool)
	unknown := transport.FleetPolicy{Detectors: []string{"telepathy"}}
	uv, _ := transport.PolicyVersion(unknown)
	for name, doc := range map[string]*transport.PolicyDoc{
		"version mismatch": {Version: "p-0000000000000000", Policy: good},
		"bad section":      {Version: bv, Policy: badTool},
		"unknown detector": {Version: uv, Policy: unknown},
	} {
		if err := a.checkPolicy(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// A stored policy that no longer validates is ignored at start.
	url, ca, st, _ := collector(t)
	b := enrolledAgent(t, url, ca, st)
	dir := b.Config.StateDir
	b.Close()
	if err := transport.SavePolicy(dir, &transport.PolicyDoc{Version: "p-0000000000000000", Policy: good}); err != nil {
		t.Fatal(err)
	}
	c, err := OpenAgent(b.Config, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Policy() != nil {
		t.Errorf("a tampered stored policy was applied: %+v", c.Policy())
	}
}

// TestTruncatedQueueRecovered: a queue segment cut short by a crash is
// recovered on start; the good reports are delivered and the next report
// says the queue was repaired.
func TestTruncatedQueueRecovered(t *testing.T) {
	t.Parallel()
	url, ca, st, _ := collector(t)
	a := enrolledAgent(t, url, ca, st)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := a.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	segs, _ := filepath.Glob(filepath.Join(a.Config.StateDir, QueueDirName, "seg-*"))
	if len(segs) == 0 {
		t.Fatal("no queue segment")
	}
	info, err := os.Stat(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(segs[len(segs)-1], info.Size()-100); err != nil {
		t.Fatal(err)
	}
	b, err := OpenAgent(a.Config, zap.NewNop())
	if err != nil {
		t.Fatalf("reopen after truncation: %v", err)
	}
	defer b.Close()
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := b.Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("delivered %d: want the 4 intact heartbeats and the new one", n)
	}
	reports, _, err := st.ListReports(ctx, b.DeviceID(), store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	recovered := false
	for _, r := range reports {
		recovered = recovered || containsEvent(t, r.Envelope, "queue_recovered")
	}
	if !recovered {
		t.Error("no report carries the queue_recovered event")
	}
}

func containsEvent(t *testing.T, raw []byte, kind string) bool {
	t.Helper()
	var env transport.Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	body, err := env.DecodeB64Payload()
	if err != nil {
		t.Fatal(err)
	}
	r, err := transport.DecodeReport(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Context.Events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func TestKVMIdentities(t *testing.T) {
	t.Parallel()
	key := []byte("fleet-key-0123456789")
	fs := []detectors.Finding{
		{Detector: "kvm", Evidence: map[string]any{"usb_vendor_id": "1d6b", "usb_product_id": "0104", "usb_serial": "CAFEBABE"}},
		{Detector: "kvm", Evidence: map[string]any{"edid_fingerprint": "abc123"}},
		{Detector: "kvm", Evidence: map[string]any{"usb_vendor_id": "1d6b", "usb_product_id": "0104", "usb_serial": "CAFEBABE"}},
		{Detector: "remoteaccess", Evidence: map[string]any{"usb_serial": "X"}},
		{Detector: "kvm", Evidence: map[string]any{"usb_vendor_id": "046d"}},
	}
	got := KVMIdentities(fs, key)
	if len(got) != 2 {
		t.Fatalf("identities %v, want 2 distinct", got)
	}
	again := KVMIdentities(fs[:2], key)
	if strings.Join(got, ",") != strings.Join(again, ",") {
		t.Errorf("not stable: %v vs %v", got, again)
	}
	for _, h := range got {
		if strings.Contains(h, "CAFEBABE") || len(h) != 32 {
			t.Errorf("identity %q is not a keyed hash", h)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ByteSize{"1048576": 1 << 20, "256MiB": 256 << 20, "64 MB": 64e6, "1GiB": 1 << 30, "10KB": 10e3} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "-5MiB", "1.5GB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

// TestRunLoopChecksDeliversAndSaysStopping runs the service loop briefly:
// it checks at once, delivers, and on stop sends a "stopping" report so
// the collector can tell a stop from a disappearance.
func TestRunLoopChecksDeliversAndSaysStopping(t *testing.T) {
	t.Parallel()
	url, ca, st, _ := collector(t)
	a := enrolledAgent(t, url, ca, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		dev, err := st.GetDevice(context.Background(), a.DeviceID())
		if err != nil {
			t.Fatal(err)
		}
		if dev.LastKind == string(transport.KindScan) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no scan report delivered within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	dev, err := st.GetDevice(context.Background(), a.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	if dev.LastKind != string(transport.KindStopping) {
		t.Errorf("last report kind %q, want stopping", dev.LastKind)
	}
}

package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/sink"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// TestServeDeliversAlertsToSinks runs a whole node (Run: both listeners,
// jobs, dispatcher) with a webhook sink: a high finding from an enrolled
// device reaches the SOC's webhook, signed, within seconds.
func TestServeDeliversAlertsToSinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secret := "a-webhook-secret-of-some-length"
	got := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := sink.VerifyWebhook([]byte(secret), r.Header.Get("X-Farmwatch-Timestamp"), body, r.Header.Get("X-Farmwatch-Signature"), time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(400)
			return
		}
		got <- string(body)
	}))
	defer hook.Close()

	dir := t.TempDir()
	res, err := Initialize(ctx, InitOptions{Dir: dir, AgentListen: "127.0.0.1:0", APIListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hook.secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sinks = []sink.Config{{Name: "soc", Type: "webhook", URL: hook.URL, SecretFile: filepath.Join(dir, "hook.secret"), MinSeverity: "high"}}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(cfg, st, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	addrs := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, func(a, b string) { addrs <- [2]string{a, b} }) }()
	var agentAddr, apiAddr string
	select {
	case a := <-addrs:
		agentAddr, apiAddr = a[0], a[1]
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}

	c := &testCollector{t: t, dir: dir, cfg: cfg, store: st, srv: srv, ts: &httptest.Server{URL: "https://" + agentAddr}}
	c.caPEM, _ = os.ReadFile(res.CAPath)
	a := c.enroll("LT-9", "eve@corp.example")
	f := detectors.Finding{ID: "x1", Detector: "kvm", Rule: "kvm.pikvm_usb_identity", Severity: detectors.SeverityHigh, Confidence: 0.9,
		Title: "PiKVM attached over USB", Summary: "s", ObservedAt: time.Now().UTC().Truncate(time.Second)}
	if _, err := a.outbox.Submit(ctx, &transport.Report{Kind: transport.KindScan, Findings: []detectors.Finding{f}}); err != nil {
		t.Fatal(err)
	}
	a.flush(t)
	select {
	case body := <-got:
		if !strings.Contains(body, "PiKVM attached over USB") || !strings.Contains(body, `"severity":"high"`) || !strings.Contains(body, "LT-9") {
			t.Errorf("webhook body: %s", body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook delivery within 20s")
	}

	// The API port serves metrics and the health check.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.ca.Pool()}}, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + apiAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`farmwatch_ingest_reports_total{result="stored"} 1`, `farmwatch_alerts_total{change="created",kind="finding",severity="high"} 1`, "farmwatch_ingest_batch_seconds_count"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// TestPublicIPBehindTrustedProxy: X-Forwarded-For is believed only from
// a trusted proxy, and the right-most untrusted hop is the device.
func TestPublicIPBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(cfg *Config) { cfg.TrustedProxies = []string{"10.0.0.0/8"} })
	s := c.srv
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},                    // untrusted sender: header ignored
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},                      // via the proxy
		{"10.1.2.3:4000", "192.0.2.9, 198.51.100.1, 10.9.9.9", "198.51.100.1"}, // right-most untrusted
		{"10.1.2.3:4000", "not-an-ip", "10.1.2.3"},
		{"[::ffff:203.0.113.7]:4000", "", "203.0.113.7"},
	} {
		r := httptest.NewRequest("POST", "/v1/reports", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := s.publicIP(r); got != tc.want {
			t.Errorf("remote %s xff %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// TestClockSkew: a laptop whose clock is hours off still delivers; the
// collector keeps the device's claimed time and its own receive time.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	for _, skew := range []time.Duration{6 * time.Hour, -6 * time.Hour, -40 * 24 * time.Hour} {
		a.outbox.Now = func() time.Time { return time.Now().Add(skew) }
		a.submit(t, transport.NetworkContext{})
	}
	if n := a.flush(t); n != 3 {
		t.Fatalf("delivered %d of 3 skewed reports", n)
	}
	for _, r := range c.reports(a.state.Key.DeviceID()) {
		if time.Since(r.ReceivedAt).Abs() > time.Minute {
			t.Errorf("seq %d received_at %v is not the collector's time", r.Seq, r.ReceivedAt)
		}
		if r.SentAt.Sub(r.ReceivedAt).Abs() < 5*time.Hour {
			t.Errorf("seq %d sent_at %v lost its skew", r.Seq, r.SentAt)
		}
	}
}

// TestSilentDeviceAlertLifecycle: a device silent past silent_after
// raises an alert, which resolves itself when the device reports again;
// a revoked device's silent alert resolves too.
func TestSilentDeviceAlertLifecycle(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(cfg *Config) { cfg.Correlation.SilentAfter = Duration(time.Hour) })
	ctx := context.Background()
	a, b := c.enroll("LT-1", "ann@corp.example"), c.enroll("LT-2", "bob@corp.example")
	for _, x := range []*testAgent{a, b} {
		x.submit(t, transport.NetworkContext{})
		x.flush(t)
	}
	later := time.Now().Add(2 * time.Hour)
	c.srv.now = func() time.Time { return later }
	if _, err := c.srv.Correlate(ctx); err != nil {
		t.Fatal(err)
	}
	silent := func() []store.Alert {
		t.Helper()
		as, _, err := c.store.ListAlerts(ctx, store.AlertFilter{Kind: "silent", Status: []store.AlertStatus{store.AlertNew}}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	if n := len(silent()); n != 2 {
		t.Fatalf("%d silent alerts, want 2", n)
	}
	// a reports again (at the collector's "later"); b is revoked.
	a.submit(t, transport.NetworkContext{})
	a.flush(t)
	if err := c.store.RevokeDevice(ctx, b.state.Key.DeviceID(), "returned", later); err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.Correlate(ctx); err != nil {
		t.Fatal(err)
	}
	if left := silent(); len(left) != 0 {
		t.Errorf("silent alerts still open: %+v", left)
	}
	resolved, _, _ := c.store.ListAlerts(ctx, store.AlertFilter{Kind: "silent", Status: []store.AlertStatus{store.AlertResolved}}, store.Page{})
	reasons := ""
	for _, r := range resolved {
		reasons += r.StatusReason + ";"
	}
	if !strings.Contains(reasons, "reports again") || !strings.Contains(reasons, "revoked") {
		t.Errorf("resolution reasons %q", reasons)
	}
}

// TestRosterAssignsOwnerAtEnrollment: without an owner on the token, the
// roster entry that lists the hostname (any case) gives the owner.
func TestRosterAssignsOwnerAtEnrollment(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	if err := c.store.ImportRoster(context.Background(), []store.RosterEntry{{Owner: "zoe@corp.example", Country: "US", Devices: []string{"lt-0099"}}}); err != nil {
		t.Fatal(err)
	}
	a := c.enroll("LT-0099", "")
	b := c.enroll("LT-0100", "")
	for _, tc := range []struct {
		a     *testAgent
		owner string
	}{{a, "zoe@corp.example"}, {b, ""}} {
		dev, err := c.store.GetDevice(context.Background(), tc.a.state.Key.DeviceID())
		if err != nil {
			t.Fatal(err)
		}
		if dev.Owner != tc.owner {
			t.Errorf("%s: owner %q, want %q", dev.Hostname, dev.Owner, tc.owner)
		}
	}
}

// TestOversizedBatchIsSplit: when a batch exceeds the collector's body
// limit (413), the sender halves its batches and still delivers all.
func TestOversizedBatchIsSplit(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(cfg *Config) { cfg.Ingest.MaxBodyBytes = 64 << 10 })
	a := c.enroll("LT-1", "")
	for i := 0; i < 100; i++ {
		a.submit(t, transport.NetworkContext{})
	}
	if n := a.flush(t); n != 100 {
		t.Fatalf("delivered %d of 100", n)
	}
	if got := len(c.reports(a.state.Key.DeviceID())); got != 100 {
		t.Errorf("stored %d of 100", got)
	}
	if testutil.ToFloat64(c.srv.metrics.Rejections.WithLabelValues("too_large")) < 1 {
		t.Error("the first batch was not too large: the test proves nothing")
	}
}

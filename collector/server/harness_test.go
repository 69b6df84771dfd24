package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/transport"
)

// testCollector is a real collector node (initialised directory, SQLite
// store, the agent handler behind real TLS) for one test.
type testCollector struct {
	t     *testing.T
	dir   string
	cfg   *Config
	store store.Store
	srv   *Server
	ts    *httptest.Server
	caPEM []byte
}

func newCollector(t *testing.T, mutate func(*Config)) *testCollector {
	t.Helper()
	return newCollectorWith(t, collectorSetup{config: func(_ string, cfg *Config) {
		if mutate != nil {
			mutate(cfg)
		}
	}})
}

// collectorSetup adapts newCollectorWith's collector; every field is
// optional.
type collectorSetup struct {
	// config changes the configuration init wrote in dir.
	config func(dir string, cfg *Config)
	// seed fills the store before the collector serves.
	seed func(store.Store)
	// front wraps the agent handler (a reverse proxy in front of it).
	front func(http.Handler) http.Handler
}

// newCollectorWith is a real collector: init in a temporary directory,
// SQLite, the agent listener over real TLS.
func newCollectorWith(t *testing.T, setup collectorSetup) *testCollector {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	res, err := Initialize(ctx, InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(res.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if setup.config != nil {
		setup.config(dir, cfg)
	}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if setup.seed != nil {
		setup.seed(st)
	}
	return startCollectorFront(t, dir, cfg, st, setup.front)
}

func startCollector(t *testing.T, dir string, cfg *Config, st store.Store) *testCollector {
	t.Helper()
	return startCollectorFront(t, dir, cfg, st, nil)
}

// startCollectorFront serves st with cfg over real TLS; front, when not
// nil, wraps the agent handler.
func startCollectorFront(t *testing.T, dir string, cfg *Config, st store.Store, front func(http.Handler) http.Handler) *testCollector {
	t.Helper()
	srv, err := New(cfg, st, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatal(err)
	}
	h := srv.AgentHandler()
	if front != nil {
		h = front(h)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.TLS = srv.AgentTLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &testCollector{t: t, dir: dir, cfg: cfg, store: st, srv: srv, ts: ts, caPEM: ca}
}

// token creates an enrollment token.
func (c *testCollector) token(uses int, ttl time.Duration, owner string) string {
	c.t.Helper()
	tok, id, hash, err := auth.NewSecret(auth.EnrollPrefix)
	if err != nil {
		c.t.Fatal(err)
	}
	now := time.Now()
	if err := c.store.CreateToken(context.Background(), store.EnrollToken{ID: id, SecretHash: hash, CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: uses, CreatedBy: "test", Owner: owner}); err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// testAgent is the transport side of one enrolled device, in process.
type testAgent struct {
	dir    string
	state  *transport.State
	client *transport.Client
	queue  *transport.Queue
	outbox *transport.Outbox
	sender *transport.Sender
}

func (c *testCollector) enroll(hostname, owner string) *testAgent {
	c.t.Helper()
	dir := c.t.TempDir()
	_, err := transport.Enroll(context.Background(), transport.EnrollOptions{
		Server: c.ts.URL, Token: c.token(1, time.Hour, owner), CAPEM: c.caPEM, StateDir: dir,
		Hostname: hostname, OS: "linux", Arch: "amd64", AgentVersion: "test",
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return openAgent(c.t, dir)
}

func openAgent(t *testing.T, dir string) *testAgent {
	t.Helper()
	st, err := transport.LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	q, err := transport.OpenQueue(transport.QueueOptions{Dir: filepath.Join(dir, "queue")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	seq, err := transport.OpenSeqCounter(dir)
	if err != nil {
		t.Fatal(err)
	}
	cl := transport.NewClient(st, zap.NewNop())
	t.Cleanup(cl.Close)
	return &testAgent{
		dir: dir, state: st, client: cl, queue: q,
		outbox: &transport.Outbox{Key: st.Key, Queue: q, Seq: seq, BootID: "boot-1", AgentVersion: "test"},
		sender: &transport.Sender{Client: cl, Queue: q, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	}
}

// submit queues one scan report with the given network context.
func (a *testAgent) submit(t *testing.T, net transport.NetworkContext) uint64 {
	t.Helper()
	seq, err := a.outbox.Submit(context.Background(), &transport.Report{
		Kind: transport.KindScan, Context: transport.ReportContext{Host: transport.HostContext{OS: "linux", Arch: "amd64", Hostname: "h"}, Network: net},
	})
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func (a *testAgent) flush(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := a.sender.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (c *testCollector) reports(deviceID string) []store.StoredReport {
	c.t.Helper()
	var all []store.StoredReport
	for after := ""; ; {
		page, next, err := c.store.ListReports(context.Background(), deviceID, store.Page{Limit: 1000, After: after})
		if err != nil {
			c.t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		after = next
	}
}

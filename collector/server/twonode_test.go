package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
	"github.com/farmwatch/farmwatch/transport"
)

// TestTwoNodesOnePostgres runs two collector nodes on one PostgreSQL
// database with the devices of a farm spread across them: tokens made on
// one node enroll on the other, reports land on both, a device moves
// between nodes without duplicates, and correlation — run by both nodes
// at once, serialised by the advisory lock — finds one farm with every
// member.
func TestTwoNodesOnePostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	dir := t.TempDir()
	res, err := Initialize(ctx, InitOptions{Dir: dir, Database: dsn})
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*testCollector, 2)
	for i := range nodes {
		cfg, err := LoadConfig(res.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(ctx, cfg.DatabaseDSN(), zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		nodes[i] = startCollector(t, dir, cfg, st)
	}
	gw := transport.HashIdentifier([]byte("home-lan"), "gateway", "aa:bb:cc:00:00:01")
	owners := []string{"ann@corp.example", "bob@corp.example", "cyd@corp.example", "dan@corp.example"}
	var agents []*testAgent
	for i, o := range owners {
		// The token is created through one node, the device enrolls and
		// reports through the other.
		tok := nodes[i%2].token(1, time.Hour, o)
		other := nodes[(i+1)%2]
		dir := t.TempDir()
		if _, err := transport.Enroll(ctx, transport.EnrollOptions{Server: other.ts.URL, Token: tok, CAPEM: other.caPEM, StateDir: dir, Hostname: "LT-" + o[:3]}); err != nil {
			t.Fatalf("enroll %s on node %d: %v", o, (i+1)%2, err)
		}
		a := openAgent(t, dir)
		a.submit(t, transport.NetworkContext{GatewayHash: gw})
		a.flush(t)
		agents = append(agents, a)
	}
	// A device moves to the other node and resends everything it sent:
	// the shared database dedupes.
	moved := repoint(t, agents[0], nodes[0].ts.URL)
	items, _ := moved.queue.Peek(10, 1<<20)
	if len(items) != 0 {
		t.Fatalf("queue not empty after delivery: %d", len(items))
	}
	moved.submit(t, transport.NetworkContext{GatewayHash: gw})
	moved.flush(t)
	if n := len(nodes[1].reports(moved.state.Key.DeviceID())); n != 2 {
		t.Errorf("node 1 sees %d reports of the moved device, want 2", n)
	}

	var wg sync.WaitGroup
	runs := make([]CorrelationRun, 2)
	errs := make([]error, 2)
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], errs[i] = n.srv.Correlate(ctx)
		}()
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
	}
	if !runs[0].Ran && !runs[1].Ran {
		t.Fatal("neither node ran correlation")
	}
	// Whatever the interleaving, a second pass on each node changes
	// nothing: still one farm.
	for _, n := range nodes {
		if _, err := n.srv.Correlate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range nodes {
		farms, _, err := n.store.ListAlerts(ctx, store.AlertFilter{Kind: "farm"}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(farms) != 1 || len(farms[0].Members) != len(owners) {
			t.Fatalf("node %d sees farms %+v, want one with %d members", i, farms, len(owners))
		}
	}
}

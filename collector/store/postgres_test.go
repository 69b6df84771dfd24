package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
)

func openPostgres(t *testing.T, dsn string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPostgres(t, storetest.PostgresDSN(t))
	})
}

// TestPostgresTwoNodes opens one database twice, as two collector nodes
// do: both migrate at once, see each other's writes, and TryLock excludes
// across them.
func TestPostgresTwoNodes(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	var (
		nodes [2]store.Store
		errs  [2]error
		wg    sync.WaitGroup
	)
	for i := range nodes {
		wg.Go(func() { nodes[i], errs[i] = store.Open(ctx, dsn, zaptest.NewLogger(t)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { nodes[i].Close() })
	}
	a, b := nodes[0], nodes[1]

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := a.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleAdmin, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if u, err := b.GetUser(ctx, "alice"); err != nil || u.Role != store.RoleAdmin {
		t.Fatalf("node b reads %+v, %v", u, err)
	}
	alert, _, err := b.UpsertAlert(ctx, store.Alert{Key: "k", Severity: 2, Members: []string{"fw-1"}, LastSeen: at}, []string{"siem"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ch, err := a.UpsertAlert(ctx, store.Alert{Key: "k", Severity: 2, Members: []string{"fw-2"}, LastSeen: at}, []string{"siem"}); err != nil || ch.Created {
		t.Fatalf("node a created a second alert for the key: %+v, %v", ch, err)
	}
	// One delivery claimed by one node is leased away from the other.
	ds, err := a.ClaimDeliveries(ctx, "siem", 1, at, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].AlertID != alert.ID {
		t.Fatalf("node a claims %+v, %v", ds, err)
	}
	ds, err = b.ClaimDeliveries(ctx, "siem", 10, at, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].ID == 0 {
		t.Fatalf("node b claims %+v, %v; want the other delivery only", ds, err)
	}

	release, ok, err := a.TryLock(ctx, "correlate")
	if err != nil || !ok {
		t.Fatalf("node a TryLock: %v %v", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "correlate"); err != nil || ok {
		t.Fatalf("node b took the lock node a holds: %v %v", ok, err)
	}
	if rel, ok, err := b.TryLock(ctx, "retention"); err != nil || !ok {
		t.Fatalf("node b TryLock of another name: %v %v", ok, err)
	} else {
		rel()
	}
	release()
	relB, ok, err := b.TryLock(ctx, "correlate")
	if err != nil || !ok {
		t.Fatalf("node b TryLock after release: %v %v", ok, err)
	}
	if _, ok, _ := a.TryLock(ctx, "correlate"); ok {
		t.Fatal("node a took the lock node b holds")
	}
	relB()
}

// TestPostgresLockDiesWithNode: a node that goes away without releasing
// its lock (Close ends its sessions) does not keep it.
func TestPostgresLockDiesWithNode(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	a, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := openPostgres(t, dsn)
	if _, ok, err := a.TryLock(ctx, "job"); err != nil || !ok {
		t.Fatalf("TryLock: %v %v", ok, err)
	}
	// The locked connection is in use, so Close leaves it; what a crash
	// does is end the session, which the server sees as a closed socket.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = current_database() AND l.pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rel, ok, err := b.TryLock(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			rel()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock outlived its session")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	s, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', now())`)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(t.Context(), dsn, nil)
	if err == nil {
		s.Close()
		t.Fatal("a database of schema version 9999 was opened")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("error %v, want ErrSchemaTooNew", err)
	}
}

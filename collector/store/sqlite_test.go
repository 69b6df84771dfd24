package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/collector/store/storetest"
)

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return openSQLite(t, filepath.Join(t.TempDir(), "collector.db"))
	})
}

func TestSQLiteDSNForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "plain.db"),
		"sqlite:" + filepath.Join(dir, "scheme.db"),
		"file:" + filepath.Join(dir, "file.db"),
	} {
		s, err := store.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("%s: %v", dsn, err)
		}
		s.Close()
	}
	for _, dsn := range []string{"", ":memory:", filepath.Join(dir, "x.db") + "?mode=ro"} {
		if s, err := store.Open(t.Context(), dsn, nil); err == nil {
			s.Close()
			t.Errorf("%q opened", dsn)
		}
	}
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "collector.db")
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	s, err := store.Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnrollDevice(ctx, store.Device{ID: "fw-1", PublicKey: []byte("k"), EnrolledAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreReport(ctx, store.StoredReport{DeviceID: "fw-1", Seq: 7, Kind: "scan", ReceivedAt: at, Envelope: []byte("env")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSQLite(t, path)
	d, err := s.GetDevice(ctx, "fw-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.LastSeq != 7 || !d.LastSeen.Equal(at) {
		t.Fatalf("reopened device: %+v", d)
	}
	dup, err := s.StoreReport(ctx, store.StoredReport{DeviceID: "fw-1", Seq: 7, Kind: "scan", ReceivedAt: at, Envelope: []byte("env")})
	if err != nil || !dup {
		t.Fatalf("report stored before reopening is not a duplicate: %v %v", dup, err)
	}
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "collector.db")
	s, err := store.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = store.Open(t.Context(), path, nil)
	if err == nil {
		s.Close()
		t.Fatal("a database of schema version 9999 was opened")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("error %v, want ErrSchemaTooNew", err)
	}
	t.Log(err)
}

// TestSQLiteConcurrentReports stores reports from many goroutines at once:
// none may fail with SQLITE_BUSY or be lost.
func TestSQLiteConcurrentReports(t *testing.T) {
	t.Parallel()
	s := openSQLite(t, filepath.Join(t.TempDir(), "collector.db"))
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const devices, workers, perWorker = 4, 32, 10
	for i := range devices {
		if err := s.EnrollDevice(ctx, store.Device{ID: fmt.Sprintf("fw-%d", i), PublicKey: []byte{byte(i)}, EnrolledAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				seq := uint64(w*perWorker + i + 1)
				r := store.StoredReport{
					DeviceID: fmt.Sprintf("fw-%d", seq%devices), Seq: seq, Kind: "scan", ReceivedAt: at.Add(time.Duration(seq) * time.Second),
					Envelope: []byte("env"), Findings: []store.StoredFinding{{FindingID: "f", Severity: 1}},
				}
				if _, err := s.StoreReport(ctx, r); err != nil {
					errs <- err
				}
				// Reads run alongside.
				if _, _, err := s.ListFindings(ctx, store.FindingFilter{}, store.Page{Limit: 5}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for i := range devices {
		rs, _, err := s.ListReports(ctx, fmt.Sprintf("fw-%d", i), store.Page{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		total += len(rs)
		d, err := s.GetDevice(ctx, fmt.Sprintf("fw-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(0)
		for seq := uint64(1); seq <= workers*perWorker; seq++ {
			if seq%devices == uint64(i) {
				want = seq
			}
		}
		if d.LastSeq != want {
			t.Errorf("fw-%d LastSeq %d, want %d", i, d.LastSeq, want)
		}
	}
	if total != workers*perWorker {
		t.Fatalf("%d reports stored, want %d", total, workers*perWorker)
	}
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteDialect: times are INTEGER microseconds; writers are serialised
// by the single write connection, so no row locks are needed.
var sqliteDialect = dialect{
	dir:             "sqlite",
	time:            func(t time.Time) any { return t.UnixMicro() },
	hasMember:       `EXISTS (SELECT 1 FROM json_each(alerts.members) WHERE json_each.value = ?)`,
	memberArg:       func(id string) any { return id },
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
}

// sqliteParams are the connection settings (modernc.org/sqlite DSN):
//
//   - journal_mode=WAL: readers do not block the writer, nor it them.
//   - synchronous=FULL: in WAL mode the default NORMAL syncs only at
//     checkpoints, so a commit survives a crash of the process but not a
//     power loss. A report is acknowledged to the agent once committed and
//     the agent then drops it from its queue: the commit must be on disk.
//     FULL syncs the WAL at every commit.
//   - busy_timeout: wait up to 10 s, instead of failing with SQLITE_BUSY,
//     while another process (the collector CLI on the same file) writes.
//   - foreign_keys: SQLite does not check references unless asked.
const sqliteParams = `_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)`

// openSQLite opens the database file with two pools: one connection for
// every write, so writers queue in Go rather than fail with SQLITE_BUSY,
// and read-only connections for reads, which WAL lets run alongside.
// Write transactions are BEGIN IMMEDIATE: they take the file's write lock
// up front, waiting under busy_timeout, so a transaction that reads then
// writes is not refused when another process wrote in between.
func openSQLite(ctx context.Context, path string, log *zap.Logger) (*sqlStore, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q is not a database file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The file holds token and password hashes: create it private. SQLite
	// gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	w, err := sql.Open("sqlite", abs+"?"+sqliteParams+"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	var mode string
	if err := w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: journal mode is %q, not WAL (a file system without shared memory?)", abs, mode)
	}
	r, err := sql.Open("sqlite", abs+"?"+sqliteParams+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	r.SetMaxOpenConns(max(4, runtime.NumCPU()))
	log.Debug("opened", zap.String("path", abs))
	return &sqlStore{b: &sqliteBackend{w: w, r: r, path: abs}, d: sqliteDialect, log: log}, nil
}

// sqliteBackend: w has one connection and takes every write; r reads.
type sqliteBackend struct {
	w, r *sql.DB
	path string
}

func (b *sqliteBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqliteQuerier{b.w}.exec(ctx, q, args...)
}

func (b *sqliteBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	return sqliteQuerier{b.r}.query(ctx, q, args...)
}

func (b *sqliteBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return sqliteQuerier{b.r}.queryRow(ctx, q, args...)
}

func (b *sqliteBackend) inTx(ctx context.Context, fn func(querier) error) error {
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return sqliteErr(err)
	}
	if err := fn(sqliteQuerier{tx}); err != nil {
		tx.Rollback()
		return err
	}
	return sqliteErr(tx.Commit())
}

// sqliteLocks are the TryLock locks of this process, by database file and
// name. SQLite serves one collector node, so in-process is cluster-wide.
var sqliteLocks = struct {
	sync.Mutex
	held map[string]bool
}{held: map[string]bool{}}

func (b *sqliteBackend) tryLock(_ context.Context, name string) (func(), bool, error) {
	key := b.path + "\x00" + name
	sqliteLocks.Lock()
	defer sqliteLocks.Unlock()
	if sqliteLocks.held[key] {
		return nil, false, nil
	}
	sqliteLocks.held[key] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			sqliteLocks.Lock()
			delete(sqliteLocks.held, key)
			sqliteLocks.Unlock()
		})
	}, true, nil
}

func (b *sqliteBackend) close() error {
	return errors.Join(b.r.Close(), b.w.Close())
}

// sqlConn is a *sql.DB or *sql.Tx.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqliteQuerier struct{ c sqlConn }

func (q sqliteQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, sqliteErr(err)
	}
	n, err := res.RowsAffected()
	return n, sqliteErr(err)
}

func (q sqliteQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := q.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, sqliteErr(err)
	}
	return sqliteRows{rs}, nil
}

func (q sqliteQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return sqliteRow{q.c.QueryRowContext(ctx, query, args...)}
}

type sqliteRows struct{ rs *sql.Rows }

func (r sqliteRows) Next() bool             { return r.rs.Next() }
func (r sqliteRows) Scan(dest ...any) error { return sqliteErr(r.rs.Scan(dest...)) }
func (r sqliteRows) Err() error             { return sqliteErr(r.rs.Err()) }
func (r sqliteRows) Close()                 { r.rs.Close() }

type sqliteRow struct{ r *sql.Row }

func (r sqliteRow) Scan(dest ...any) error { return sqliteErr(r.r.Scan(dest...)) }

// sqliteErr classifies an error: no rows is ErrNotFound, a unique
// violation ErrConflict, a missing referenced row ErrNotFound.
func sqliteErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	return err
}

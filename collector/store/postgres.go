package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// postgresDialect: times are timestamptz; rows read before a write are
// locked with FOR UPDATE, because several nodes write at once.
var postgresDialect = dialect{
	dir:        "postgres",
	time:       func(t time.Time) any { return t },
	forUpdate:  " FOR UPDATE",
	skipLocked: " FOR UPDATE SKIP LOCKED",
	hasMember:  `members @> ?::jsonb`,
	memberArg: func(id string) any {
		b, _ := json.Marshal([]string{id})
		return string(b)
	},
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`,
	lockMigrations:  `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(lockKey("migrations"), 10) + `)`,
}

// lockKey is the advisory lock key of a name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("farmwatch/" + name))
	return int64(h.Sum64())
}

func openPostgres(ctx context.Context, dsn string, log *zap.Logger) (*sqlStore, error) {
	dsn, size, err := poolSize(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	b := &pgBackend{pool: &connPool{cfg: cfg, slots: make(chan struct{}, size)}, log: log}
	// Connect now, so that a wrong DSN fails Open.
	c, err := b.pool.acquire(ctx)
	if err != nil {
		b.pool.close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	b.pool.release(c)
	log.Debug("opened", zap.String("host", cfg.Host), zap.String("database", cfg.Database), zap.Int("pool_max_conns", size))
	return &sqlStore{b: b, d: postgresDialect, log: log}, nil
}

// poolSize takes pool_max_conns out of the DSN (the server would refuse it
// as a parameter). The default is max(4, CPUs), as pgxpool's.
func poolSize(dsn string) (string, int, error) {
	size := max(4, runtime.NumCPU())
	u, err := url.Parse(dsn)
	if err != nil {
		return "", 0, errors.New("the DSN is not a URL") // url errors repeat the DSN, password included
	}
	q := u.Query()
	if v := q.Get("pool_max_conns"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			return "", 0, fmt.Errorf("pool_max_conns=%q: want a number of at least 2", v)
		}
		size = n
		q.Del("pool_max_conns")
		u.RawQuery = q.Encode()
	}
	return u.String(), size, nil
}

// pgBackend runs statements on pooled connections. Statements are written
// with ? placeholders and numbered here ($1, $2…); none of the store's SQL
// has a ? inside a literal or as a jsonb operator.
type pgBackend struct {
	pool *connPool
	log  *zap.Logger
}

// rebind numbers the ? placeholders of q.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (b *pgBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	c, err := b.pool.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer b.pool.release(c)
	return pgExec(ctx, c, q, args)
}

func (b *pgBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	c, err := b.pool.acquire(ctx)
	if err != nil {
		return nil, err
	}
	return pgQuery(ctx, c, q, args, func() { b.pool.release(c) })
}

func (b *pgBackend) queryRow(ctx context.Context, q string, args ...any) row {
	rs, err := b.query(ctx, q, args...)
	return firstRow{rs, err}
}

// inTx runs fn in a transaction (READ COMMITTED; the store's SQL takes the
// row locks it needs). A deadlock or serialization failure is retried.
func (b *pgBackend) inTx(ctx context.Context, fn func(querier) error) error {
	for attempt := 1; ; attempt++ {
		err := b.tx(ctx, fn)
		var pe *pgconn.PgError
		if attempt < 4 && errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			b.log.Debug("retrying transaction", zap.String("sqlstate", pe.Code), zap.Int("attempt", attempt))
			continue
		}
		return err
	}
}

func (b *pgBackend) tx(ctx context.Context, fn func(querier) error) error {
	c, err := b.pool.acquire(ctx)
	if err != nil {
		return err
	}
	defer b.pool.release(c)
	tx, err := c.Begin(ctx)
	if err != nil {
		return pgErr(err)
	}
	if err := fn(pgTx{tx}); err != nil {
		tx.Rollback(ctx) // a failed rollback closes the connection, which the pool then drops
		return err
	}
	return pgErr(tx.Commit(ctx))
}

// tryLock takes a session advisory lock on a connection held until
// release: the lock lives as long as that session, so a crashed node's
// locks go with its connections.
func (b *pgBackend) tryLock(ctx context.Context, name string) (func(), bool, error) {
	c, err := b.pool.acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	key := lockKey("lock/" + name)
	var ok bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		b.pool.release(c)
		return nil, false, pgErr(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var unlocked bool
			if err := c.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&unlocked); err != nil || !unlocked {
				// Ending the session releases its locks.
				b.log.Warn("advisory unlock failed; closing its connection", zap.String("lock", name), zap.Error(err))
				c.Close(ctx)
			}
			b.pool.release(c)
		})
	}, true, nil
}

func (b *pgBackend) close() error {
	b.pool.close()
	return nil
}

// pgTx runs statements in a transaction.
type pgTx struct{ tx pgx.Tx }

func (q pgTx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return pgExec(ctx, q.tx, query, args)
}

func (q pgTx) query(ctx context.Context, query string, args ...any) (rows, error) {
	return pgQuery(ctx, q.tx, query, args, func() {})
}

func (q pgTx) queryRow(ctx context.Context, query string, args ...any) row {
	rs, err := q.query(ctx, query, args...)
	return firstRow{rs, err}
}

// pgRunner is a *pgx.Conn or a pgx.Tx.
type pgRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgExec(ctx context.Context, r pgRunner, q string, args []any) (int64, error) {
	if len(args) == 0 {
		// Statements without arguments (migrations) go as written.
		tag, err := r.Exec(ctx, q)
		return tag.RowsAffected(), pgErr(err)
	}
	tag, err := r.Exec(ctx, rebind(q), args...)
	return tag.RowsAffected(), pgErr(err)
}

// pgQuery runs a query; done is called once the rows are closed.
func pgQuery(ctx context.Context, r pgRunner, q string, args []any, done func()) (rows, error) {
	rs, err := r.Query(ctx, rebind(q), args...)
	if err != nil {
		done()
		return nil, pgErr(err)
	}
	return &pgRows{rs: rs, done: done}, nil
}

type pgRows struct {
	rs   pgx.Rows
	done func()
}

func (r *pgRows) Next() bool             { return r.rs.Next() }
func (r *pgRows) Scan(dest ...any) error { return pgErr(r.rs.Scan(dest...)) }
func (r *pgRows) Err() error             { return pgErr(r.rs.Err()) }

func (r *pgRows) Close() {
	r.rs.Close()
	if r.done != nil {
		r.done()
		r.done = nil
	}
}

// firstRow is the first row of a query, ErrNotFound when there is none.
// The rows are read to the end, so that the error of a statement that
// fails after its first row (INSERT … RETURNING) is seen.
type firstRow struct {
	rs  rows
	err error
}

func (r firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rs.Close()
	if !r.rs.Next() {
		if err := r.rs.Err(); err != nil {
			return err
		}
		return ErrNotFound
	}
	if err := r.rs.Scan(dest...); err != nil {
		return err
	}
	r.rs.Close()
	return r.rs.Err()
}

// pgErr classifies an error: no rows is ErrNotFound, a unique violation
// ErrConflict, a missing referenced row ErrNotFound.
func pgErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
	}
	return err
}

// connPool is a small pool of pgx connections: at most cap(slots) in use,
// idle ones reused newest first and pinged when idle for over a second.
// (pgxpool needs github.com/jackc/puddle/v2, which is not in go.mod; this
// is the part of it the store uses.)
type connPool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{}

	mu     sync.Mutex
	idle   []idleConn
	closed bool
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

var errPoolClosed = errors.New("postgres: store closed")

func (p *connPool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			<-p.slots
			return nil, errPoolClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		ic := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(ic.since) < time.Second || ic.c.Ping(ctx) == nil {
			return ic.c, nil
		}
		ic.c.Close(context.Background())
		if err := ctx.Err(); err != nil {
			<-p.slots
			return nil, err
		}
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// release returns a connection; one closed, busy or left in a
// transaction is dropped.
func (p *connPool) release(c *pgx.Conn) {
	defer func() { <-p.slots }()
	p.mu.Lock()
	keep := !p.closed && !c.IsClosed() && !c.PgConn().IsBusy() && c.PgConn().TxStatus() == 'I'
	if keep {
		p.idle = append(p.idle, idleConn{c: c, since: time.Now()})
	}
	p.mu.Unlock()
	if !keep {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	}
}

// close closes the idle connections; those in use close when released.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, ic := range idle {
		ic.c.Close(ctx)
	}
}

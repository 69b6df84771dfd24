package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// ErrSchemaTooNew is returned by Open for a database migrated by a newer
// build: this build does not know the schema and must not write to it.
var ErrSchemaTooNew = errors.New("database schema is newer than this build")

// Open opens the store named by dsn and applies pending migrations.
//
//	postgres://user@host:5432/db?sslmode=verify-full   PostgreSQL (also postgresql://)
//	/var/lib/farmwatch/collector.db                    SQLite file
//	sqlite:/var/lib/farmwatch/collector.db             the same (file: works too)
//
// A PostgreSQL DSN may carry pool_max_conns=N (default max(4, CPUs)).
// A database whose schema version is newer than this build knows is
// refused with an error wrapping ErrSchemaTooNew.
func Open(ctx context.Context, dsn string, log *zap.Logger) (Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	var (
		s   *sqlStore
		err error
	)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		log = log.With(zap.String("store", "postgres"))
		s, err = openPostgres(ctx, dsn, log)
	} else {
		log = log.With(zap.String("store", "sqlite"))
		s, err = openSQLite(ctx, sqlitePath(dsn), log)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.b.close()
		return nil, err
	}
	return s, nil
}

// sqlitePath strips the optional scheme of a SQLite DSN.
func sqlitePath(dsn string) string {
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(dsn, p); ok {
			return rest
		}
	}
	return dsn
}

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migration is one numbered schema change, NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in version order.
func migrations(dir string) ([]migration, error) {
	dir = path.Join("migrations", dir)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migrations: %s is not NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: %s: versions must run 1, 2, 3… without gaps", m.name)
		}
	}
	return ms, nil
}

// migrate brings the schema to the newest version this build knows, one
// migration per transaction. Each transaction first takes the dialect's
// migration lock and reads the version again, so collector nodes starting
// together apply each migration once.
func (s *sqlStore) migrate(ctx context.Context) error {
	ms, err := migrations(s.d.dir)
	if err != nil {
		return err
	}
	latest := len(ms)
	for {
		var applied *migration
		done := false
		err := s.b.inTx(ctx, func(q querier) error {
			applied, done = nil, false
			if s.d.lockMigrations != "" {
				if _, err := q.exec(ctx, s.d.lockMigrations); err != nil {
					return err
				}
			}
			if _, err := q.exec(ctx, s.d.migrationsTable); err != nil {
				return err
			}
			var cur int
			if err := q.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
				return err
			}
			switch {
			case cur > latest:
				return fmt.Errorf("%w: the database is at schema version %d, this build knows up to %d; run a farmwatch-collector at least as new as the one that migrated it",
					ErrSchemaTooNew, cur, latest)
			case cur == latest:
				done = true
				return nil
			}
			m := ms[cur]
			if _, err := q.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, s.t(now())); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			applied = &m
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if applied != nil {
			s.log.Info("applied schema migration", zap.Int("version", applied.version), zap.String("name", applied.name))
		}
		if done {
			return nil
		}
	}
}

package store

// This file is the Store both dialects run: every method, its SQL and its
// rules (token checks, alert merging, the alert lifecycle, paging). The SQL
// is written once with ? placeholders in the subset SQLite and PostgreSQL
// share (INSERT … ON CONFLICT, RETURNING, partial indexes, TRUE/FALSE).
// sqlite.go and postgres.go supply a backend (connections, transactions,
// locks) and a dialect (the few fragments that differ); the schemas are in
// migrations/.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// ErrInvalid is returned for arguments the store refuses: a missing
// required field, a bad page cursor, an alert status change the lifecycle
// does not allow.
var ErrInvalid = errors.New("invalid request")

// querier runs statements on a connection or in a transaction. Errors are
// classified by the backend: a row not found wraps ErrNotFound, a unique
// violation ErrConflict, a reference to a missing row ErrNotFound.
type querier interface {
	// exec runs a statement and returns the number of rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface {
	Scan(dest ...any) error
}

// backend is a dialect's connections. Its querier methods serve reads and
// single-statement writes; a write that returns rows or spans statements
// runs in inTx.
type backend interface {
	querier
	// inTx runs fn in a write transaction, committed when fn returns nil.
	// fn may run more than once (a PostgreSQL deadlock is retried), so it
	// must set, not accumulate, what it hands out.
	inTx(ctx context.Context, fn func(q querier) error) error
	tryLock(ctx context.Context, name string) (release func(), ok bool, err error)
	close() error
}

// dialect holds the SQL that differs between databases.
type dialect struct {
	// dir is the dialect's folder under migrations/.
	dir string
	// time binds a time already in UTC microseconds (never zero).
	time func(time.Time) any
	// forUpdate ends a SELECT that locks what it reads until the end of
	// the transaction ("" where writers are serialised anyway).
	forUpdate string
	// skipLocked ends the SELECT that picks deliveries to claim.
	skipLocked string
	// hasMember is a condition on alerts.members with one placeholder,
	// bound to memberArg(device id).
	hasMember string
	memberArg func(id string) any
	// migrationsTable creates schema_migrations if needed;
	// lockMigrations, when set, runs first in each migration transaction.
	migrationsTable string
	lockMigrations  string
}

// sqlStore is the Store of both dialects.
type sqlStore struct {
	b   backend
	d   dialect
	log *zap.Logger
}

var _ Store = (*sqlStore)(nil)

// Paging.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// kindScan is transport.KindScan: the reports that carry detector health
// and set the device's MaxSeverity.
const kindScan = "scan"

func now() time.Time { return time.Now().UTC() }

// dbTime is t as the store keeps it: UTC, truncated to microseconds.
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// t binds a time: NULL for the zero time.
func (s *sqlStore) t(v time.Time) any {
	if v.IsZero() {
		return nil
	}
	return s.d.time(dbTime(v))
}

// timeCol scans a time column of either dialect: SQLite's integer
// microseconds, PostgreSQL's timestamptz, NULL as the zero time.
type timeCol struct{ t time.Time }

func (c *timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		c.t = time.Time{}
	case int64:
		c.t = time.UnixMicro(x).UTC()
	case time.Time:
		c.t = x.UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// blob binds bytes, NULL when empty (JSON columns refuse "").
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// jsonText is v as JSON text, for columns holding our own values.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// strs is a JSON array column of strings; null or empty reads as nil.
func strs(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// unique drops empty and repeated strings, keeping the first order.
func unique(in []string) []string {
	var out []string
	seen := make(map[string]bool, len(in))
	for _, v := range in {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func limitOf(p Page) int {
	switch {
	case p.Limit <= 0:
		return defaultLimit
	case p.Limit > maxLimit:
		return maxLimit
	}
	return p.Limit
}

// Cursors are opaque to callers: the listing's name and the sort key of
// the last item, base64url.
func encodeCursor(list, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + ":" + key))
}

func decodeCursor(list, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	key, ok := strings.CutPrefix(string(b), list+":")
	if err != nil || !ok {
		return "", fmt.Errorf("%w: page cursor %q is not one of this listing", ErrInvalid, c)
	}
	return key, nil
}

// afterID adds the condition of an id-descending listing's next page.
func afterID(w *conds, list string, p Page) error {
	if p.After == "" {
		return nil
	}
	key, err := decodeCursor(list, p.After)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: page cursor %q", ErrInvalid, p.After)
	}
	w.add("id < ?", id)
	return nil
}

// pageOf trims a listing fetched with limit+1 rows to limit and returns
// the cursor of the next page, "" when this is the last.
func pageOf[T any](items []T, limit int, list string, key func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(list, key(items[limit-1]))
}

// conds builds a WHERE clause.
type conds struct {
	where []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.where = append(c.where, cond)
	c.args = append(c.args, args...)
}

func (c *conds) sql() string {
	if len(c.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.where, " AND ")
}

// placeholders returns n comma-separated groups of k placeholders.
func placeholders(n, k int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?, ", k), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(group+", ", n), ", ")
}

// collect scans every row of a query.
func collect[T any](ctx context.Context, q querier, scan func(row) (T, error), query string, args ...any) ([]T, error) {
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// Enrollment tokens.

const tokenCols = `id, secret_hash, created_at, expires_at, max_uses, uses, revoked, created_by, owner, note`

func scanToken(r row) (EnrollToken, error) {
	var t EnrollToken
	var created, expires timeCol
	err := r.Scan(&t.ID, &t.SecretHash, &created, &expires, &t.MaxUses, &t.Uses, &t.Revoked, &t.CreatedBy, &t.Owner, &t.Note)
	t.CreatedAt, t.ExpiresAt = created.t, expires.t
	return t, err
}

// CreateToken stores a token. A zero ExpiresAt never expires; MaxUses 0
// allows any number of uses (a time-boxed token).
func (s *sqlStore) CreateToken(ctx context.Context, t EnrollToken) error {
	if t.ID == "" || len(t.SecretHash) == 0 {
		return fmt.Errorf("create token: %w: id and secret hash are required", ErrInvalid)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	_, err := s.b.exec(ctx, `INSERT INTO enroll_tokens (`+tokenCols+`) VALUES `+placeholders(1, 10),
		t.ID, t.SecretHash, s.t(t.CreatedAt), s.t(t.ExpiresAt), t.MaxUses, t.Uses, t.Revoked, t.CreatedBy, t.Owner, t.Note)
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

func (s *sqlStore) ListTokens(ctx context.Context) ([]EnrollToken, error) {
	ts, err := collect(ctx, s.b, scanToken, `SELECT `+tokenCols+` FROM enroll_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

func (s *sqlStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	n, err := s.b.exec(ctx, `UPDATE enroll_tokens SET revoked = TRUE, revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, s.t(at), id)
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// UseToken consumes a use in one conditional UPDATE: concurrent uses of
// the last use serialise on the row, and only the first still matches.
func (s *sqlStore) UseToken(ctx context.Context, secretHash []byte, at time.Time) (EnrollToken, error) {
	var t EnrollToken
	err := s.b.inTx(ctx, func(q querier) error {
		var err error
		t, err = scanToken(q.queryRow(ctx, `UPDATE enroll_tokens SET uses = uses + 1
			WHERE secret_hash = ? AND NOT revoked AND (expires_at IS NULL OR expires_at > ?) AND (max_uses <= 0 OR uses < max_uses)
			RETURNING `+tokenCols, secretHash, s.t(at)))
		return err
	})
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return EnrollToken{}, fmt.Errorf("use token: %w", err)
	}
	cur, err := scanToken(s.b.queryRow(ctx, `SELECT `+tokenCols+` FROM enroll_tokens WHERE secret_hash = ?`, secretHash))
	switch {
	case errors.Is(err, ErrNotFound):
		return EnrollToken{}, fmt.Errorf("%w: unknown token", ErrTokenInvalid)
	case err != nil:
		return EnrollToken{}, fmt.Errorf("use token: %w", err)
	}
	return EnrollToken{}, fmt.Errorf("%w: token %s is %s", ErrTokenInvalid, cur.ID, tokenRefusal(cur, at))
}

// tokenRefusal says why a token cannot be used at a time.
func tokenRefusal(t EnrollToken, at time.Time) string {
	switch {
	case t.Revoked:
		return "revoked"
	case !t.ExpiresAt.IsZero() && !at.Before(t.ExpiresAt):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "used up"
	}
	return "not usable"
}

// Devices.

const deviceCols = `id, public_key, cert_serial, cert_not_after, token_id, owner, hostname, os, arch, enrolled_at,
	revoked, revoked_at, revoke_reason, last_seen, last_seq, last_kind, agent_version, policy_version, public_ip,
	network, health, max_severity`

func scanDevice(r row) (Device, error) {
	var d Device
	var certNotAfter, enrolled, revoked, lastSeen timeCol
	var lastSeq int64
	var network []byte
	err := r.Scan(&d.ID, &d.PublicKey, &d.CertSerial, &certNotAfter, &d.TokenID, &d.Owner, &d.Hostname, &d.OS, &d.Arch, &enrolled,
		&d.Revoked, &revoked, &d.RevokeReason, &lastSeen, &lastSeq, &d.LastKind, &d.AgentVersion, &d.PolicyVersion, &d.PublicIP,
		&network, &d.Health, &d.MaxSeverity)
	if err != nil {
		return Device{}, err
	}
	d.CertNotAfter, d.EnrolledAt, d.RevokedAt, d.LastSeen = certNotAfter.t, enrolled.t, revoked.t, lastSeen.t
	d.LastSeq = uint64(lastSeq)
	if len(network) > 0 {
		if err := json.Unmarshal(network, &d.Network); err != nil {
			return Device{}, fmt.Errorf("device %s network: %w", d.ID, err)
		}
	}
	return d, nil
}

// EnrollDevice inserts the device or updates it. A re-enrollment must
// present the key the device enrolled with (its id is derived from it);
// an empty Owner keeps the owner the device has; EnrolledAt stays that
// of the first enrollment.
func (s *sqlStore) EnrollDevice(ctx context.Context, d Device) error {
	if d.ID == "" || len(d.PublicKey) == 0 {
		return fmt.Errorf("enroll device: %w: id and public key are required", ErrInvalid)
	}
	if d.EnrolledAt.IsZero() {
		d.EnrolledAt = now()
	}
	err := s.b.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `INSERT INTO devices (id, public_key, cert_serial, cert_not_after, token_id, owner, hostname, os, arch, enrolled_at, agent_version)
			VALUES `+placeholders(1, 11)+` ON CONFLICT (id) DO NOTHING`,
			d.ID, d.PublicKey, d.CertSerial, s.t(d.CertNotAfter), d.TokenID, d.Owner, d.Hostname, d.OS, d.Arch, s.t(d.EnrolledAt), d.AgentVersion)
		if err != nil || n == 1 {
			return err
		}
		var revoked bool
		var pub []byte
		if err := q.queryRow(ctx, `SELECT revoked, public_key FROM devices WHERE id = ?`+s.d.forUpdate, d.ID).Scan(&revoked, &pub); err != nil {
			return err
		}
		if revoked {
			return fmt.Errorf("%w: the device is revoked", ErrConflict)
		}
		if !bytes.Equal(pub, d.PublicKey) {
			return fmt.Errorf("%w: the device enrolled with another key", ErrConflict)
		}
		set := `cert_serial = ?, cert_not_after = ?, token_id = ?, hostname = ?, os = ?, arch = ?, agent_version = ?`
		args := []any{d.CertSerial, s.t(d.CertNotAfter), d.TokenID, d.Hostname, d.OS, d.Arch, d.AgentVersion}
		if d.Owner != "" {
			set += `, owner = ?`
			args = append(args, d.Owner)
		}
		_, err = q.exec(ctx, `UPDATE devices SET `+set+` WHERE id = ?`, append(args, d.ID)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("enroll device %s: %w", d.ID, err)
	}
	return nil
}

func (s *sqlStore) GetDevice(ctx context.Context, id string) (Device, error) {
	d, err := scanDevice(s.b.queryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if err != nil {
		return Device{}, fmt.Errorf("get device %s: %w", id, err)
	}
	return d, nil
}

// ListDevices lists devices by id. SilentSince matches devices last seen
// before it, and those never seen that enrolled before it.
func (s *sqlStore) ListDevices(ctx context.Context, f DeviceFilter, p Page) ([]Device, string, error) {
	var w conds
	if f.Owner != "" {
		w.add("owner = ?", f.Owner)
	}
	if f.Revoked != nil {
		w.add("revoked = ?", *f.Revoked)
	}
	if !f.SilentSince.IsZero() {
		w.add("COALESCE(last_seen, enrolled_at) < ?", s.t(f.SilentSince))
	}
	if p.After != "" {
		id, err := decodeCursor("devices", p.After)
		if err != nil {
			return nil, "", fmt.Errorf("list devices: %w", err)
		}
		w.add("id > ?", id)
	}
	limit := limitOf(p)
	ds, err := collect(ctx, s.b, scanDevice, `SELECT `+deviceCols+` FROM devices`+w.sql()+` ORDER BY id LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list devices: %w", err)
	}
	ds, next := pageOf(ds, limit, "devices", func(d Device) string { return d.ID })
	return ds, next, nil
}

func (s *sqlStore) AllDevices(ctx context.Context) ([]Device, error) {
	ds, err := collect(ctx, s.b, scanDevice, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("all devices: %w", err)
	}
	return ds, nil
}

// RevokeDevice revokes a device; revoking it again keeps the first time
// and reason.
func (s *sqlStore) RevokeDevice(ctx context.Context, id, reason string, at time.Time) error {
	n, err := s.b.exec(ctx, `UPDATE devices SET revoked = TRUE,
		revoked_at = CASE WHEN revoked THEN revoked_at ELSE ? END,
		revoke_reason = CASE WHEN revoked THEN revoke_reason ELSE ? END
		WHERE id = ?`, s.t(at), reason, id)
	return rowsChanged("revoke device "+id, n, err)
}

func (s *sqlStore) UpdateCertificate(ctx context.Context, id, serial string, notAfter time.Time) error {
	n, err := s.b.exec(ctx, `UPDATE devices SET cert_serial = ?, cert_not_after = ? WHERE id = ?`, serial, s.t(notAfter), id)
	return rowsChanged("update certificate of "+id, n, err)
}

func (s *sqlStore) SetOwner(ctx context.Context, id, owner string) error {
	n, err := s.b.exec(ctx, `UPDATE devices SET owner = ? WHERE id = ?`, owner, id)
	return rowsChanged("set owner of "+id, n, err)
}

// rowsChanged is the error of an UPDATE of one row by key.
func rowsChanged(op string, n int64, err error) error {
	if err == nil && n == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Reports and findings.

const reportCols = `id, device_id, seq, kind, boot_id, sent_at, received_at, public_ip, envelope, max_severity,
	agent_version, policy_version, network, health`

// storedReport is a report with its row id (the listing's sort key).
type storedReport struct {
	id int64
	r  StoredReport
}

func scanReport(rw row) (storedReport, error) {
	var sr storedReport
	r := &sr.r
	var sent, received timeCol
	var seq int64
	var network []byte
	err := rw.Scan(&sr.id, &r.DeviceID, &seq, &r.Kind, &r.BootID, &sent, &received, &r.PublicIP, &r.Envelope, &r.MaxSeverity,
		&r.AgentVersion, &r.PolicyVersion, &network, &r.Health)
	if err != nil {
		return sr, err
	}
	r.Seq, r.SentAt, r.ReceivedAt = uint64(seq), sent.t, received.t
	if len(network) > 0 {
		if err := json.Unmarshal(network, &r.Network); err != nil {
			return sr, fmt.Errorf("report %s/%d network: %w", r.DeviceID, r.Seq, err)
		}
	}
	return sr, nil
}

const findingCols = `id, report_id, device_id, seq, finding_id, detector, rule, severity, confidence, title, summary, finding_json, observed_at`

// storedFinding is a finding with its row id and its report's.
type storedFinding struct {
	id, report int64
	f          StoredFinding
}

func scanFinding(r row) (storedFinding, error) {
	var sf storedFinding
	f := &sf.f
	var seq int64
	var observed timeCol
	err := r.Scan(&sf.id, &sf.report, &f.DeviceID, &seq, &f.FindingID, &f.Detector, &f.Rule, &f.Severity, &f.Confidence,
		&f.Title, &f.Summary, &f.JSON, &observed)
	f.Seq, f.ObservedAt = uint64(seq), observed.t
	return sf, err
}

// findingRows is how many findings one INSERT carries.
const findingRows = 200

// StoreReport stores a report, its findings and the device's state in one
// transaction, with the device row locked first so reports of one device
// serialise. The state a report carries is applied only when its seq is
// the device's highest (a late, older report does not roll the state
// back); LastSeen only moves forward. Health and MaxSeverity come from
// scan reports only. The report's GeoUpdate, if any, goes into the
// device's geo history (geostore.go) in the same transaction. A report of
// an unknown device: ErrNotFound.
func (s *sqlStore) StoreReport(ctx context.Context, r StoredReport) (bool, error) {
	if r.DeviceID == "" || r.Seq == 0 || r.Seq > math.MaxInt64 {
		return false, fmt.Errorf("store report: %w: device id and a seq in 1..2^63-1 are required", ErrInvalid)
	}
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now()
	}
	maxSev := r.MaxSeverity
	for _, f := range r.Findings {
		maxSev = max(maxSev, f.Severity)
	}
	network, err := jsonText(r.Network)
	if err != nil {
		return false, fmt.Errorf("store report: %w", err)
	}
	seq := int64(r.Seq)
	var duplicate bool
	err = s.b.inTx(ctx, func(q querier) error {
		duplicate = false
		var lastSeq int64
		var lastSeen timeCol
		if err := q.queryRow(ctx, `SELECT last_seq, last_seen FROM devices WHERE id = ?`+s.d.forUpdate, r.DeviceID).Scan(&lastSeq, &lastSeen); err != nil {
			return fmt.Errorf("device: %w", err)
		}
		var reportID int64
		err := q.queryRow(ctx, `INSERT INTO reports (device_id, seq, kind, boot_id, sent_at, received_at, public_ip, envelope, max_severity,
			agent_version, policy_version, network, health) VALUES `+placeholders(1, 13)+`
			ON CONFLICT (device_id, seq) DO NOTHING RETURNING id`,
			r.DeviceID, seq, r.Kind, r.BootID, s.t(r.SentAt), s.t(r.ReceivedAt), r.PublicIP, r.Envelope, maxSev,
			r.AgentVersion, r.PolicyVersion, network, blob(r.Health)).Scan(&reportID)
		if errors.Is(err, ErrNotFound) {
			duplicate = true
			return nil
		}
		if err != nil {
			return err
		}
		for fs := range slices.Chunk(r.Findings, findingRows) {
			args := make([]any, 0, len(fs)*12)
			for _, f := range fs {
				args = append(args, reportID, r.DeviceID, seq, f.FindingID, f.Detector, f.Rule, f.Severity, f.Confidence,
					f.Title, f.Summary, blob(f.JSON), s.t(f.ObservedAt))
			}
			if _, err := q.exec(ctx, `INSERT INTO findings (report_id, device_id, seq, finding_id, detector, rule, severity, confidence,
				title, summary, finding_json, observed_at) VALUES `+placeholders(len(fs), 12), args...); err != nil {
				return fmt.Errorf("findings: %w", err)
			}
		}
		if r.Geo != nil {
			if err := s.applyGeo(ctx, q, r.DeviceID, r.Geo, seq > lastSeq); err != nil {
				return err
			}
		}
		seen := lastSeen.t
		if dbTime(r.ReceivedAt).After(seen) {
			seen = r.ReceivedAt
		}
		if seq <= lastSeq {
			_, err = q.exec(ctx, `UPDATE devices SET last_seen = ? WHERE id = ?`, s.t(seen), r.DeviceID)
			return err
		}
		set := `last_seen = ?, last_seq = ?, last_kind = ?, public_ip = ?, agent_version = ?, policy_version = ?, network = ?`
		args := []any{s.t(seen), seq, r.Kind, r.PublicIP, r.AgentVersion, r.PolicyVersion, network}
		if r.Kind == kindScan {
			set += `, health = ?, max_severity = ?`
			args = append(args, blob(r.Health), maxSev)
		}
		_, err = q.exec(ctx, `UPDATE devices SET `+set+` WHERE id = ?`, append(args, r.DeviceID)...)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store report %s/%d: %w", r.DeviceID, r.Seq, err)
	}
	return duplicate, nil
}

// ListReports lists reports newest first, with their findings; an empty
// deviceID lists every device's.
func (s *sqlStore) ListReports(ctx context.Context, deviceID string, p Page) ([]StoredReport, string, error) {
	var w conds
	if deviceID != "" {
		w.add("device_id = ?", deviceID)
	}
	if err := afterID(&w, "reports", p); err != nil {
		return nil, "", fmt.Errorf("list reports: %w", err)
	}
	limit := limitOf(p)
	srs, err := collect(ctx, s.b, scanReport, `SELECT `+reportCols+` FROM reports`+w.sql()+` ORDER BY id DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list reports: %w", err)
	}
	srs, next := pageOf(srs, limit, "reports", func(r storedReport) string { return strconv.FormatInt(r.id, 10) })
	if len(srs) == 0 {
		return nil, next, nil
	}
	ids := make([]any, len(srs))
	at := make(map[int64]int, len(srs))
	for i, r := range srs {
		ids[i], at[r.id] = r.id, i
	}
	fs, err := collect(ctx, s.b, scanFinding, `SELECT `+findingCols+` FROM findings WHERE report_id IN `+placeholders(1, len(ids))+` ORDER BY id`, ids...)
	if err != nil {
		return nil, "", fmt.Errorf("list reports: findings: %w", err)
	}
	out := make([]StoredReport, len(srs))
	for i, r := range srs {
		out[i] = r.r
	}
	for _, f := range fs {
		r := &out[at[f.report]]
		r.Findings = append(r.Findings, f.f)
	}
	return out, next, nil
}

// ListFindings lists findings newest first. Since matches ObservedAt.
func (s *sqlStore) ListFindings(ctx context.Context, f FindingFilter, p Page) ([]StoredFinding, string, error) {
	var w conds
	if f.DeviceID != "" {
		w.add("device_id = ?", f.DeviceID)
	}
	if f.MinSeverity > 0 {
		w.add("severity >= ?", f.MinSeverity)
	}
	if !f.Since.IsZero() {
		w.add("observed_at >= ?", s.t(f.Since))
	}
	if err := afterID(&w, "findings", p); err != nil {
		return nil, "", fmt.Errorf("list findings: %w", err)
	}
	limit := limitOf(p)
	sfs, err := collect(ctx, s.b, scanFinding, `SELECT `+findingCols+` FROM findings`+w.sql()+` ORDER BY id DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list findings: %w", err)
	}
	sfs, next := pageOf(sfs, limit, "findings", func(f storedFinding) string { return strconv.FormatInt(f.id, 10) })
	out := make([]StoredFinding, len(sfs))
	for i, f := range sfs {
		out[i] = f.f
	}
	return out, next, nil
}

// Alerts.

const alertCols = `id, key, kind, severity, status, title, summary, members, evidence, first_seen, last_seen, seen_count,
	status_reason, suppressed_till, updated_at`

func scanAlert(r row) (Alert, error) {
	var a Alert
	var members []byte
	var first, last, till, updated timeCol
	err := r.Scan(&a.ID, &a.Key, &a.Kind, &a.Severity, &a.Status, &a.Title, &a.Summary, &members, &a.Evidence, &first, &last, &a.Count,
		&a.StatusReason, &till, &updated)
	if err != nil {
		return Alert{}, err
	}
	a.FirstSeen, a.LastSeen, a.SuppressedTill, a.UpdatedAt = first.t, last.t, till.t, updated.t
	if a.Members, err = strs(members); err != nil {
		return Alert{}, fmt.Errorf("alert %d members: %w", a.ID, err)
	}
	return a, nil
}

// UpsertAlert inserts the alert unless an open one holds its key (the
// unique index on open keys decides, across nodes too), else locks that
// one and merges into it. The alert's LastSeen (else FirstSeen, else now)
// is the time of the change: it decides whether a suppression has
// expired, and an expired suppression returns the alert to new.
func (s *sqlStore) UpsertAlert(ctx context.Context, a Alert, sinks []string) (Alert, AlertChange, error) {
	if a.Key == "" {
		return Alert{}, AlertChange{}, fmt.Errorf("upsert alert: %w: empty key", ErrInvalid)
	}
	at := a.LastSeen
	if at.IsZero() {
		at = a.FirstSeen
	}
	if at.IsZero() {
		at = now()
	}
	at = dbTime(at)
	fresh := Alert{
		Key: a.Key, Kind: a.Kind, Severity: a.Severity, Status: AlertNew, Title: a.Title, Summary: a.Summary,
		Members: unique(a.Members), Evidence: a.Evidence, FirstSeen: dbTime(a.FirstSeen), LastSeen: at, Count: 1, UpdatedAt: at,
	}
	if fresh.FirstSeen.IsZero() || fresh.FirstSeen.After(at) {
		fresh.FirstSeen = at
	}
	members, err := jsonText(fresh.Members)
	if err != nil {
		return Alert{}, AlertChange{}, fmt.Errorf("upsert alert: %w", err)
	}
	sinks = unique(sinks)

	var out Alert
	var change AlertChange
	err = s.b.inTx(ctx, func(q querier) error {
		// Between the INSERT finding an open alert and the SELECT locking
		// it, another node may resolve it: then try again.
		for attempt := 0; ; attempt++ {
			if attempt == 3 {
				return errors.New("the open alert kept being resolved")
			}
			var id int64
			err := q.queryRow(ctx, `INSERT INTO alerts (key, kind, severity, status, title, summary, members, evidence,
				first_seen, last_seen, seen_count, status_reason, suppressed_till, updated_at)
				VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, 1, '', NULL, ?)
				ON CONFLICT (key) WHERE status <> 'resolved' DO NOTHING RETURNING id`,
				fresh.Key, fresh.Kind, fresh.Severity, fresh.Title, fresh.Summary, members, blob(fresh.Evidence),
				s.t(fresh.FirstSeen), s.t(fresh.LastSeen), s.t(fresh.UpdatedAt)).Scan(&id)
			if err == nil {
				out, change = fresh, AlertChange{Created: true, NewMembers: fresh.Members}
				out.ID = id
				break
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
			cur, err := scanAlert(q.queryRow(ctx, `SELECT `+alertCols+` FROM alerts WHERE key = ? AND status <> 'resolved'`+s.d.forUpdate, a.Key))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out, change = mergeAlert(cur, fresh, at)
			if err := s.writeAlert(ctx, q, out); err != nil {
				return err
			}
			break
		}
		if !(change.Created || len(change.NewMembers) > 0 || change.SeverityRaised) || out.Status == AlertSuppressed || len(sinks) == 0 {
			return nil
		}
		event := "updated"
		if change.Created {
			event = "created"
		}
		args := make([]any, 0, len(sinks)*5)
		for _, sink := range sinks {
			args = append(args, sink, out.ID, event, s.t(at), s.t(at))
		}
		if _, err := q.exec(ctx, `INSERT INTO deliveries (sink, alert_id, event, next_at, created_at) VALUES `+placeholders(len(sinks), 5), args...); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		change.Notified = true
		return nil
	})
	if err != nil {
		return Alert{}, AlertChange{}, fmt.Errorf("upsert alert %s: %w", a.Key, err)
	}
	return out, change, nil
}

// mergeAlert merges a fresh detection a, made at time at, into the open
// alert cur.
func mergeAlert(cur, a Alert, at time.Time) (Alert, AlertChange) {
	var ch AlertChange
	out := cur
	out.Members = slices.Clone(cur.Members)
	for _, m := range a.Members {
		if !slices.Contains(cur.Members, m) {
			out.Members = append(out.Members, m)
			ch.NewMembers = append(ch.NewMembers, m)
		}
	}
	if a.Severity > cur.Severity {
		out.Severity, ch.SeverityRaised = a.Severity, true
	}
	if a.Kind != "" {
		out.Kind = a.Kind
	}
	out.Title, out.Summary, out.Evidence = a.Title, a.Summary, a.Evidence
	out.Count = cur.Count + 1
	if at.After(cur.LastSeen) {
		out.LastSeen = at
	}
	out.UpdatedAt = at
	if cur.Status == AlertSuppressed && !cur.SuppressedTill.IsZero() && !at.Before(cur.SuppressedTill) {
		out.Status, out.StatusReason, out.SuppressedTill = AlertNew, "suppression expired", time.Time{}
	}
	return out, ch
}

// writeAlert saves the mutable columns of an alert.
func (s *sqlStore) writeAlert(ctx context.Context, q querier, a Alert) error {
	members, err := jsonText(a.Members)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, `UPDATE alerts SET kind = ?, severity = ?, status = ?, title = ?, summary = ?, members = ?, evidence = ?,
		last_seen = ?, seen_count = ?, status_reason = ?, suppressed_till = ?, updated_at = ? WHERE id = ?`,
		a.Kind, a.Severity, string(a.Status), a.Title, a.Summary, members, blob(a.Evidence),
		s.t(a.LastSeen), a.Count, a.StatusReason, s.t(a.SuppressedTill), s.t(a.UpdatedAt), a.ID)
	return err
}

func (s *sqlStore) GetAlert(ctx context.Context, id int64) (Alert, error) {
	a, err := scanAlert(s.b.queryRow(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = ?`, id))
	if err != nil {
		return Alert{}, fmt.Errorf("get alert %d: %w", id, err)
	}
	return a, nil
}

// ListAlerts lists alerts newest (highest id) first.
func (s *sqlStore) ListAlerts(ctx context.Context, f AlertFilter, p Page) ([]Alert, string, error) {
	var w conds
	if len(f.Status) > 0 {
		args := make([]any, len(f.Status))
		for i, st := range f.Status {
			args[i] = string(st)
		}
		w.add("status IN "+placeholders(1, len(args)), args...)
	}
	if f.Kind != "" {
		w.add("kind = ?", f.Kind)
	}
	if f.MinSeverity > 0 {
		w.add("severity >= ?", f.MinSeverity)
	}
	if f.DeviceID != "" {
		w.add(s.d.hasMember, s.d.memberArg(f.DeviceID))
	}
	if err := afterID(&w, "alerts", p); err != nil {
		return nil, "", fmt.Errorf("list alerts: %w", err)
	}
	limit := limitOf(p)
	as, err := collect(ctx, s.b, scanAlert, `SELECT `+alertCols+` FROM alerts`+w.sql()+` ORDER BY id DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list alerts: %w", err)
	}
	as, next := pageOf(as, limit, "alerts", func(a Alert) string { return strconv.FormatInt(a.ID, 10) })
	return as, next, nil
}

// SetAlertStatus changes an alert's status under a row lock and writes the
// audit entry (Action, Target and Detail filled in when empty; At is the
// time of the change, now when zero). A suppression with a zero until
// lasts until unsuppressed; one ending before At is refused.
func (s *sqlStore) SetAlertStatus(ctx context.Context, id int64, to AlertStatus, reason string, until time.Time, audit AuditEntry) (Alert, error) {
	if audit.At.IsZero() {
		audit.At = now()
	}
	var out Alert
	err := s.b.inTx(ctx, func(q querier) error {
		cur, err := scanAlert(q.queryRow(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = ?`+s.d.forUpdate, id))
		if err != nil {
			return err
		}
		next, err := transition(cur, to, reason, until, dbTime(audit.At))
		if err != nil {
			return err
		}
		if err := s.writeAlert(ctx, q, next); err != nil {
			return err
		}
		e := audit
		if e.Action == "" {
			e.Action = "alert." + string(to)
		}
		if e.Target == "" {
			e.Target = "alert/" + strconv.FormatInt(id, 10)
		}
		if e.Detail == "" {
			e.Detail = string(cur.Status) + " → " + string(to)
			if reason != "" {
				e.Detail += ": " + reason
			}
		}
		if err := s.addAudit(ctx, q, e); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return Alert{}, fmt.Errorf("set alert %d %s: %w", id, to, err)
	}
	return out, nil
}

// transition applies the alert lifecycle: new→acknowledged,
// new|acknowledged→resolved, open→suppressed, suppressed→new.
func transition(cur Alert, to AlertStatus, reason string, until, at time.Time) (Alert, error) {
	from := cur.Status
	var ok bool
	switch to {
	case AlertAcknowledged:
		ok = from == AlertNew
	case AlertResolved:
		ok = from == AlertNew || from == AlertAcknowledged
	case AlertSuppressed:
		ok = from == AlertNew || from == AlertAcknowledged || from == AlertSuppressed
	case AlertNew:
		ok = from == AlertSuppressed
	}
	if !ok {
		return cur, fmt.Errorf("%w: alert %d is %s and cannot become %s", ErrInvalid, cur.ID, from, to)
	}
	until = dbTime(until)
	if to == AlertSuppressed && !until.IsZero() && !until.After(at) {
		return cur, fmt.Errorf("%w: suppression until %s is already over", ErrInvalid, until.Format(time.RFC3339))
	}
	next := cur
	next.Status, next.StatusReason, next.UpdatedAt, next.SuppressedTill = to, reason, at, time.Time{}
	if to == AlertSuppressed {
		next.SuppressedTill = until
	}
	return next, nil
}

// Deliveries.

const deliveryCols = `id, sink, alert_id, event, attempts, next_at, last_error, created_at`

func scanDelivery(r row) (Delivery, error) {
	var d Delivery
	var next, created timeCol
	err := r.Scan(&d.ID, &d.Sink, &d.AlertID, &d.Event, &d.Attempts, &next, &d.LastError, &created)
	d.NextAt, d.CreatedAt = next.t, created.t
	return d, err
}

// ClaimDeliveries claims up to max due deliveries of a sink, oldest first:
// each claim counts an attempt and moves NextAt to the end of the lease,
// so the delivery is due again then unless completed or retried. On
// PostgreSQL, nodes claiming at once skip each other's rows.
func (s *sqlStore) ClaimDeliveries(ctx context.Context, sink string, maxN int, at time.Time, lease time.Duration) ([]Delivery, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("claim deliveries: %w: lease must be positive", ErrInvalid)
	}
	maxN = limitOf(Page{Limit: maxN})
	var ds []Delivery
	err := s.b.inTx(ctx, func(q querier) error {
		var err error
		ds, err = collect(ctx, q, scanDelivery, `UPDATE deliveries SET attempts = attempts + 1, next_at = ?
			WHERE id IN (SELECT id FROM deliveries WHERE sink = ? AND NOT done AND next_at <= ? ORDER BY id LIMIT ?`+s.d.skipLocked+`)
			AND NOT done AND next_at <= ?
			RETURNING `+deliveryCols, s.t(at.Add(lease)), sink, s.t(at), maxN, s.t(at))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of %s: %w", sink, err)
	}
	slices.SortFunc(ds, func(a, b Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return ds, nil
}

func (s *sqlStore) CompleteDelivery(ctx context.Context, id int64) error {
	n, err := s.b.exec(ctx, `UPDATE deliveries SET done = TRUE, done_at = COALESCE(done_at, ?) WHERE id = ?`, s.t(now()), id)
	return rowsChanged("complete delivery "+strconv.FormatInt(id, 10), n, err)
}

// RetryDelivery makes a claimed delivery due again at next. A completed
// delivery is not retried: ErrNotFound.
func (s *sqlStore) RetryDelivery(ctx context.Context, id int64, next time.Time, lastErr string) error {
	n, err := s.b.exec(ctx, `UPDATE deliveries SET next_at = ?, last_error = ? WHERE id = ? AND NOT done`, s.t(next), lastErr, id)
	return rowsChanged("retry delivery "+strconv.FormatInt(id, 10), n, err)
}

func (s *sqlStore) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	type count struct {
		sink string
		n    int
	}
	cs, err := collect(ctx, s.b, func(r row) (count, error) {
		var c count
		err := r.Scan(&c.sink, &c.n)
		return c, err
	}, `SELECT sink, COUNT(*) FROM deliveries WHERE NOT done GROUP BY sink`)
	if err != nil {
		return nil, fmt.Errorf("pending deliveries: %w", err)
	}
	out := make(map[string]int, len(cs))
	for _, c := range cs {
		out[c.sink] = c.n
	}
	return out, nil
}

// Audit.

const auditCols = `id, at, actor, action, target, detail`

func scanAudit(r row) (AuditEntry, error) {
	var e AuditEntry
	var at timeCol
	err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail)
	e.At = at.t
	return e, err
}

// AddAudit records an entry (At now when zero; its ID is assigned).
func (s *sqlStore) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	if err := s.addAudit(ctx, s.b, e); err != nil {
		return fmt.Errorf("add audit: %w", err)
	}
	return nil
}

func (s *sqlStore) addAudit(ctx context.Context, q querier, e AuditEntry) error {
	if e.Action == "" {
		return fmt.Errorf("%w: audit entry without action", ErrInvalid)
	}
	_, err := q.exec(ctx, `INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)`,
		s.t(e.At), e.Actor, e.Action, e.Target, e.Detail)
	return err
}

// ListAudit lists entries newest first.
func (s *sqlStore) ListAudit(ctx context.Context, p Page) ([]AuditEntry, string, error) {
	var w conds
	if err := afterID(&w, "audit", p); err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	limit := limitOf(p)
	es, err := collect(ctx, s.b, scanAudit, `SELECT `+auditCols+` FROM audit`+w.sql()+` ORDER BY id DESC LIMIT ?`, append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	es, next := pageOf(es, limit, "audit", func(e AuditEntry) string { return strconv.FormatInt(e.ID, 10) })
	return es, next, nil
}

// Users and API tokens.

const userCols = `name, role, password_hash, created_at, must_change_password`

func scanUser(r row) (User, error) {
	var u User
	var created timeCol
	err := r.Scan(&u.Name, &u.Role, &u.PasswordHash, &created, &u.MustChangePassword)
	u.CreatedAt = created.t
	return u, err
}

func (s *sqlStore) CreateUser(ctx context.Context, u User) error {
	if u.Name == "" || (u.Role != RoleViewer && u.Role != RoleAnalyst && u.Role != RoleAdmin) {
		return fmt.Errorf("create user: %w: a name and a role (viewer, analyst, admin) are required", ErrInvalid)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	_, err := s.b.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?)`,
		u.Name, string(u.Role), blob(u.PasswordHash), s.t(u.CreatedAt), u.MustChangePassword)
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

func (s *sqlStore) GetUser(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.b.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	return u, nil
}

func (s *sqlStore) SetUserPassword(ctx context.Context, name string, hash []byte, mustChange bool) error {
	if len(hash) == 0 {
		return fmt.Errorf("set password of %s: %w: empty hash", name, ErrInvalid)
	}
	n, err := s.b.exec(ctx, `UPDATE users SET password_hash = ?, must_change_password = ? WHERE name = ?`, blob(hash), mustChange, name)
	return rowsChanged("set password of "+name, n, err)
}

func (s *sqlStore) ListUsers(ctx context.Context) ([]User, error) {
	us, err := collect(ctx, s.b, scanUser, `SELECT `+userCols+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

const apiTokenCols = `id, user_name, secret_hash, created_at, revoked, note`

func scanAPIToken(r row) (APIToken, error) {
	var t APIToken
	var created timeCol
	err := r.Scan(&t.ID, &t.User, &t.SecretHash, &created, &t.Revoked, &t.Note)
	t.CreatedAt = created.t
	return t, err
}

// CreateAPIToken stores a token of an existing user (else ErrNotFound).
func (s *sqlStore) CreateAPIToken(ctx context.Context, t APIToken) error {
	if t.ID == "" || t.User == "" || len(t.SecretHash) == 0 {
		return fmt.Errorf("create API token: %w: id, user and secret hash are required", ErrInvalid)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	_, err := s.b.exec(ctx, `INSERT INTO api_tokens (`+apiTokenCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.User, t.SecretHash, s.t(t.CreatedAt), t.Revoked, t.Note)
	if err != nil {
		return fmt.Errorf("create API token %s: %w", t.ID, err)
	}
	return nil
}

func (s *sqlStore) LookupAPIToken(ctx context.Context, secretHash []byte) (APIToken, error) {
	t, err := scanAPIToken(s.b.queryRow(ctx, `SELECT `+apiTokenCols+` FROM api_tokens WHERE secret_hash = ? AND NOT revoked`, secretHash))
	if err != nil {
		return APIToken{}, fmt.Errorf("look up API token: %w", err)
	}
	return t, nil
}

func (s *sqlStore) GetAPIToken(ctx context.Context, id string) (APIToken, error) {
	t, err := scanAPIToken(s.b.queryRow(ctx, `SELECT `+apiTokenCols+` FROM api_tokens WHERE id = ?`, id))
	if err != nil {
		return APIToken{}, fmt.Errorf("get API token %s: %w", id, err)
	}
	return t, nil
}

func (s *sqlStore) RevokeAPIToken(ctx context.Context, id string) error {
	n, err := s.b.exec(ctx, `UPDATE api_tokens SET revoked = TRUE WHERE id = ?`, id)
	return rowsChanged("revoke API token "+id, n, err)
}

// Roster.

const rosterCols = `owner, display_name, city, country, latitude, longitude, time_zone, devices`

func scanRoster(r row) (RosterEntry, error) {
	var e RosterEntry
	var devices []byte
	err := r.Scan(&e.Owner, &e.DisplayName, &e.City, &e.Country, &e.Latitude, &e.Longitude, &e.TimeZone, &devices)
	if err != nil {
		return RosterEntry{}, err
	}
	if e.Devices, err = strs(devices); err != nil {
		return RosterEntry{}, fmt.Errorf("roster %s devices: %w", e.Owner, err)
	}
	return e, nil
}

// ImportRoster upserts every entry in one transaction; an entry without
// owner fails the whole import (ErrInvalid) and changes nothing.
func (s *sqlStore) ImportRoster(ctx context.Context, entries []RosterEntry) error {
	err := s.b.inTx(ctx, func(q querier) error {
		for i, e := range entries {
			if e.Owner == "" {
				return fmt.Errorf("%w: entry %d has no owner", ErrInvalid, i+1)
			}
			devices, err := jsonText(unique(e.Devices))
			if err != nil {
				return err
			}
			if _, err := q.exec(ctx, `INSERT INTO roster (`+rosterCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (owner) DO UPDATE SET display_name = excluded.display_name, city = excluded.city,
				country = excluded.country, latitude = excluded.latitude, longitude = excluded.longitude,
				time_zone = excluded.time_zone, devices = excluded.devices`,
				e.Owner, e.DisplayName, e.City, e.Country, e.Latitude, e.Longitude, e.TimeZone, devices); err != nil {
				return fmt.Errorf("entry %d (%s): %w", i+1, e.Owner, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import roster: %w", err)
	}
	return nil
}

func (s *sqlStore) GetRosterEntry(ctx context.Context, owner string) (RosterEntry, error) {
	e, err := scanRoster(s.b.queryRow(ctx, `SELECT `+rosterCols+` FROM roster WHERE owner = ?`, owner))
	if err != nil {
		return RosterEntry{}, fmt.Errorf("get roster entry %s: %w", owner, err)
	}
	return e, nil
}

func (s *sqlStore) ListRoster(ctx context.Context) ([]RosterEntry, error) {
	es, err := collect(ctx, s.b, scanRoster, `SELECT `+rosterCols+` FROM roster ORDER BY owner`)
	if err != nil {
		return nil, fmt.Errorf("list roster: %w", err)
	}
	return es, nil
}

// Locks and lifetime.

func (s *sqlStore) TryLock(ctx context.Context, name string) (func(), bool, error) {
	release, ok, err := s.b.tryLock(ctx, name)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", name, err)
	}
	return release, ok, nil
}

// Ping reads the schema version, which needs the database file or server.
func (s *sqlStore) Ping(ctx context.Context) error {
	var v int
	if err := s.b.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

func (s *sqlStore) Close() error { return s.b.close() }

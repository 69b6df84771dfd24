package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/store"
)

// env is one API over its own real SQLite store, with a user and an API
// token per role.
type env struct {
	t       *testing.T
	ctx     context.Context
	st      store.Store
	srv     *httptest.Server
	now     time.Time
	logs    *observer.ObservedLogs
	reg     *prometheus.Registry
	metrics *Metrics
	// token holds an API token per role, of users viewer, analyst, admin.
	token map[store.Role]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), zap.NewNop())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	core, logs := observer.New(zapcore.InfoLevel)
	e := &env{
		t:     t,
		ctx:   ctx,
		st:    st,
		now:   time.Now().UTC().Truncate(time.Second),
		logs:  logs,
		reg:   prometheus.NewRegistry(),
		token: map[store.Role]string{},
	}
	e.metrics = NewMetrics(e.reg)
	e.srv = httptest.NewServer(New(Options{
		Store:         st,
		Log:           zap.New(core),
		Now:           func() time.Time { return e.now },
		CollectorName: "test-collector",
		Metrics:       e.metrics,
	}))
	t.Cleanup(e.srv.Close)
	for _, r := range []store.Role{store.RoleViewer, store.RoleAnalyst, store.RoleAdmin} {
		e.addUser(string(r), r, "", false)
		e.token[r] = e.addToken(string(r))
	}
	return e
}

// addUser creates a user; with a password only when pw is not "". The
// fixture's hash has bcrypt's least cost (checking it is the same code,
// and the race detector makes the default cost take seconds).
func (e *env) addUser(name string, role store.Role, pw string, mustChange bool) {
	e.t.Helper()
	u := store.User{Name: name, Role: role, CreatedAt: e.now, MustChangePassword: mustChange}
	if pw != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			e.t.Fatal(err)
		}
		u.PasswordHash = h
	}
	if err := e.st.CreateUser(e.ctx, u); err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
}

// addToken creates an API token of user and returns its secret.
func (e *env) addToken(user string) string {
	e.t.Helper()
	tok, id, hash, err := auth.NewSecret(auth.APIPrefix)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAPIToken(e.ctx, store.APIToken{ID: id, User: user, SecretHash: hash, CreatedAt: e.now}); err != nil {
		e.t.Fatalf("create API token: %v", err)
	}
	return tok
}

// resp is an answer, its body read.
type resp struct {
	*http.Response
	body []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.StatusCode, bytes.TrimSpace(r.body)) }

// decode unmarshals the body into v.
func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// apiErr is the error body.
func (r resp) apiErr(t *testing.T) (msg, reason string) {
	t.Helper()
	var e struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	r.decode(t, &e)
	if e.Error == "" || e.Reason == "" {
		t.Fatalf("error body without error or reason: %s", r)
	}
	return e.Error, e.Reason
}

// req sends method path (below Prefix) with body (nil, a string sent
// as is, or a value sent as JSON) and the request adjusted by opts.
func (e *env) req(method, path string, body any, opts ...func(*http.Request)) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	r, err := http.NewRequestWithContext(e.ctx, method, e.srv.URL+Prefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(r)
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res, data}
}

// as sends the request with role's API token.
func (e *env) as(role store.Role, method, path string, body any, opts ...func(*http.Request)) resp {
	e.t.Helper()
	return e.req(method, path, body, append([]func(*http.Request){bearer(e.token[role])}, opts...)...)
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basic(user, pw string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }
}

func header(k, v string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

// want fails unless r has status code.
func want(t *testing.T, r resp, code int) {
	t.Helper()
	if r.StatusCode != code {
		t.Fatalf("%s %s: got %s, want %d", r.Request.Method, r.Request.URL.Path, r, code)
	}
}

// Fixtures.

// addDevice enrolls a device with a fresh, well-formed id.
func (e *env) addDevice(owner, hostname string) store.Device {
	e.t.Helper()
	var id [16]byte
	_, _ = rand.Read(id[:])
	d := store.Device{
		ID:           "fw-" + hex.EncodeToString(id[:]),
		PublicKey:    []byte("spki-" + hostname),
		CertSerial:   "01",
		CertNotAfter: e.now.Add(30 * 24 * time.Hour),
		TokenID:      "tok0000001",
		Owner:        owner,
		Hostname:     hostname,
		OS:           "windows",
		Arch:         "amd64",
		EnrolledAt:   e.now.Add(-time.Hour),
		MaxSeverity:  -1,
	}
	if err := e.st.EnrollDevice(e.ctx, d); err != nil {
		e.t.Fatalf("enroll device: %v", err)
	}
	got, err := e.st.GetDevice(e.ctx, d.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// testEnvelope is a DSSE envelope as a device sends it (the store does not
// verify it; the ingest does).
const testEnvelope = `{"payloadType":"application/vnd.farmwatch.report.v1+json","payload":"eyJzY2hlbWEiOiJmYXJtd2F0Y2gucmVwb3J0L3YxIn0=","signatures":[{"keyid":"k1","sig":"MEUCIQ=="}]}`

// addReport stores a scan report of d with one finding of severity sev.
func (e *env) addReport(d store.Device, seq uint64, sev int) store.StoredReport {
	e.t.Helper()
	at := e.now.Add(-time.Duration(10-seq) * time.Minute)
	f := store.StoredFinding{
		DeviceID: d.ID, Seq: seq, FindingID: fmt.Sprintf("f-%d", seq), Detector: "kvm", Rule: "kvm.pikvm_usb_identity",
		Severity: sev, Confidence: 0.9, Title: "PiKVM attached", Summary: "a PiKVM is plugged in",
		JSON:       []byte(fmt.Sprintf(`{"id":"f-%d","detector":"kvm","rule":"kvm.pikvm_usb_identity","severity":"high","evidence":{"vendor_id":"1d6b"},"mitre":["T1200"]}`, seq)),
		ObservedAt: at,
	}
	r := store.StoredReport{
		DeviceID: d.ID, Seq: seq, Kind: "scan", BootID: "boot-1", SentAt: at, ReceivedAt: at.Add(time.Second),
		PublicIP: "203.0.113.7", Envelope: []byte(testEnvelope), MaxSeverity: sev, Findings: []store.StoredFinding{f},
		AgentVersion: "1.2.3", PolicyVersion: "p1", Network: store.Network{GatewayHash: strings.Repeat("ab", 32)},
		Health: []byte(`[{"name":"kvm","status":"ok","duration_ms":12}]`),
	}
	dup, err := e.st.StoreReport(e.ctx, r)
	if err != nil || dup {
		e.t.Fatalf("store report: dup=%v err=%v", dup, err)
	}
	return r
}

// addAlert creates a new alert about members.
func (e *env) addAlert(key string, sev int, members ...string) store.Alert {
	e.t.Helper()
	a, _, err := e.st.UpsertAlert(e.ctx, store.Alert{
		Key: key, Kind: "farm_public_ip", Severity: sev, Status: store.AlertNew,
		Title: "laptop farm behind one IP", Summary: "3 owners share 203.0.113.7",
		Members: members, Evidence: []byte(`{"public_ip":"203.0.113.7","owners":3}`),
		FirstSeen: e.now.Add(-time.Hour), LastSeen: e.now, Count: 1, UpdatedAt: e.now,
	}, nil)
	if err != nil {
		e.t.Fatalf("upsert alert: %v", err)
	}
	return a
}

// audits returns the audit log.
func (e *env) audits() []store.AuditEntry {
	e.t.Helper()
	var all []store.AuditEntry
	p := store.Page{Limit: 1000}
	for {
		es, next, err := e.st.ListAudit(e.ctx, p)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, es...)
		if next == "" {
			return all
		}
		p.After = next
	}
}

// findAudit fails unless the log has an entry of action on target by actor.
func (e *env) findAudit(actor, action, target string) store.AuditEntry {
	e.t.Helper()
	for _, a := range e.audits() {
		if a.Actor == actor && a.Action == action && a.Target == target {
			if a.At.IsZero() {
				e.t.Errorf("audit entry %+v has no time", a)
			}
			return a
		}
	}
	e.t.Fatalf("no audit entry %s %s %s in %+v", actor, action, target, e.audits())
	return store.AuditEntry{}
}

// Package storetest is the conformance suite every store.Store passes:
// Run exercises each method and the semantics its doc comment promises,
// against a fresh store per subtest. PostgresDSN gives tests a private
// PostgreSQL database. Test helpers only; nothing here runs in the
// collector.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/farmwatch/farmwatch/collector/store"
)

// base is the fixed time the suite's scenarios start at.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite. open returns a new, empty store and
// closes it when the test ends; subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"Tokens", testTokens},
		{"TokenConcurrentUse", testTokenConcurrentUse},
		{"EnrollDevice", testEnrollDevice},
		{"DeviceUpdates", testDeviceUpdates},
		{"ListDevices", testListDevices},
		{"StoreReport", testStoreReport},
		{"StoreReportAtomic", testStoreReportAtomic},
		{"ListReports", testListReports},
		{"ListFindings", testListFindings},
		{"GeoState", testGeoState},
		{"UpsertAlert", testUpsertAlert},
		{"UpsertAlertConcurrent", testUpsertAlertConcurrent},
		{"AlertLifecycle", testAlertLifecycle},
		{"ListAlerts", testListAlerts},
		{"Deliveries", testDeliveries},
		{"Audit", testAudit},
		{"Users", testUsers},
		{"APITokens", testAPITokens},
		{"Roster", testRoster},
		{"TryLock", testTryLock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Helpers.

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %q", err, target)
	}
}

func device(id, owner string) store.Device {
	return store.Device{
		ID: id, PublicKey: []byte("key-of-" + id), CertSerial: "serial-1", CertNotAfter: base.Add(90 * 24 * time.Hour),
		TokenID: "tok", Owner: owner, Hostname: "host-" + id, OS: "linux", Arch: "amd64", EnrolledAt: base,
		AgentVersion: "1.0.0",
	}
}

func enroll(t *testing.T, s store.Store, id, owner string) {
	t.Helper()
	must(t, s.EnrollDevice(t.Context(), device(id, owner)))
}

func getDevice(t *testing.T, s store.Store, id string) store.Device {
	t.Helper()
	d, err := s.GetDevice(t.Context(), id)
	must(t, err)
	return d
}

// report is a report of seq received at base+seq minutes, with findings
// of the given severities.
func report(id string, seq uint64, kind string, severities ...int) store.StoredReport {
	at := base.Add(time.Duration(seq) * time.Minute)
	r := store.StoredReport{
		DeviceID: id, Seq: seq, Kind: kind, BootID: "boot-1", SentAt: at.Add(-time.Second), ReceivedAt: at,
		PublicIP: fmt.Sprintf("203.0.113.%d", seq%250), Envelope: []byte(fmt.Sprintf(`{"payload":"%s/%d"}`, id, seq)),
		AgentVersion: "1.0.0", PolicyVersion: "p1",
		Network: store.Network{GatewayHash: fmt.Sprintf("gw-%d", seq)},
		Health:  []byte(fmt.Sprintf(`[{"name":"kvm","status":"ok","seq":%d}]`, seq)),
	}
	for i, sev := range severities {
		r.Findings = append(r.Findings, store.StoredFinding{
			FindingID: fmt.Sprintf("f-%d-%d", seq, i), Detector: "kvm", Rule: "kvm.pikvm_usb_identity", Severity: sev,
			Confidence: 0.9, Title: "PiKVM", Summary: "a PiKVM is attached", JSON: []byte(`{"id":"x"}`), ObservedAt: at,
		})
	}
	return r
}

func storeReport(t *testing.T, s store.Store, r store.StoredReport) {
	t.Helper()
	dup, err := s.StoreReport(t.Context(), r)
	must(t, err)
	if dup {
		t.Fatalf("report %s/%d: duplicate", r.DeviceID, r.Seq)
	}
}

// walk collects every page of a listing, checking the cursor ends it.
func walk[T any](t *testing.T, limit int, list func(store.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	p := store.Page{Limit: limit}
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("the listing does not end")
		}
		items, next, err := list(p)
		must(t, err)
		if len(items) > limit {
			t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) == 0 {
			t.Fatal("an empty page with a cursor")
		}
		p.After = next
	}
}

func newAlert(key string, sev int, at time.Time, members ...string) store.Alert {
	return store.Alert{
		Key: key, Kind: "farm", Severity: sev, Title: "farm at " + key, Summary: "devices share " + key,
		Members: members, Evidence: []byte(`{"key":"` + key + `"}`), FirstSeen: at, LastSeen: at,
	}
}

func upsert(t *testing.T, s store.Store, a store.Alert, sinks ...string) (store.Alert, store.AlertChange) {
	t.Helper()
	got, ch, err := s.UpsertAlert(t.Context(), a, sinks)
	must(t, err)
	return got, ch
}

func setStatus(t *testing.T, s store.Store, id int64, to store.AlertStatus, until, at time.Time) store.Alert {
	t.Helper()
	a, err := s.SetAlertStatus(t.Context(), id, to, "because", until, store.AuditEntry{At: at, Actor: "analyst"})
	must(t, err)
	return a
}

func pending(t *testing.T, s store.Store) map[string]int {
	t.Helper()
	p, err := s.PendingDeliveries(t.Context())
	must(t, err)
	return p
}

func wantPending(t *testing.T, s store.Store, want map[string]int) {
	t.Helper()
	if got := pending(t, s); !mapsEqual(got, want) {
		t.Fatalf("pending deliveries = %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	for k, v := range a {
		if v != 0 && b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if v != 0 && a[k] != v {
			return false
		}
	}
	return true
}

// Tests.

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(t.Context()))
}

func testTimeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2026, 3, 14, 15, 26, 53, 589793238, zone)
	want := time.Date(2026, 3, 14, 9, 56, 53, 589793000, time.UTC)
	check := func(what string, got time.Time) {
		t.Helper()
		if !got.Equal(want) || got.Location() != time.UTC || got.Nanosecond()%1000 != 0 {
			t.Errorf("%s = %v (%v), want %v in UTC", what, got, got.Location(), want)
		}
	}
	must(t, s.CreateToken(ctx, store.EnrollToken{ID: "t1", SecretHash: hash("t1"), CreatedAt: in}))
	ts, err := s.ListTokens(ctx)
	must(t, err)
	check("token CreatedAt", ts[0].CreatedAt)
	if !ts[0].ExpiresAt.IsZero() {
		t.Errorf("zero ExpiresAt came back as %v", ts[0].ExpiresAt)
	}

	d := device("d1", "")
	d.CertNotAfter, d.EnrolledAt = in, in
	must(t, s.EnrollDevice(ctx, d))
	got := getDevice(t, s, "d1")
	check("device CertNotAfter", got.CertNotAfter)
	check("device EnrolledAt", got.EnrolledAt)
	if !got.LastSeen.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("unset device times came back as %v, %v", got.LastSeen, got.RevokedAt)
	}
	a, _ := upsert(t, s, newAlert("k", 1, in))
	a, err = s.GetAlert(ctx, a.ID)
	must(t, err)
	check("alert FirstSeen", a.FirstSeen)
	check("alert LastSeen", a.LastSeen)
	must(t, s.AddAudit(ctx, store.AuditEntry{At: in, Actor: "a", Action: "x"}))
	es, _, err := s.ListAudit(ctx, store.Page{})
	must(t, err)
	check("audit At", es[0].At)
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	tokens := []store.EnrollToken{
		{ID: "two-uses", SecretHash: hash("two"), CreatedAt: base, ExpiresAt: base.Add(time.Hour), MaxUses: 2, CreatedBy: "admin", Owner: "alice", Note: "laptop refresh"},
		{ID: "one-use", SecretHash: hash("one"), CreatedAt: base.Add(time.Second), MaxUses: 1},
		{ID: "unlimited", SecretHash: hash("unlimited"), CreatedAt: base.Add(2 * time.Second)},
		{ID: "to-revoke", SecretHash: hash("revoke"), CreatedAt: base.Add(3 * time.Second), MaxUses: 5},
		{ID: "expired", SecretHash: hash("expired"), CreatedAt: base.Add(4 * time.Second), ExpiresAt: base.Add(time.Minute), MaxUses: 5},
	}
	for _, tk := range tokens {
		must(t, s.CreateToken(ctx, tk))
	}
	wantErr(t, s.CreateToken(ctx, store.EnrollToken{ID: "one-use", SecretHash: hash("other"), CreatedAt: base}), store.ErrConflict)

	got, err := s.ListTokens(ctx)
	must(t, err)
	if len(got) != len(tokens) {
		t.Fatalf("ListTokens: %d tokens, want %d", len(got), len(tokens))
	}
	for i, tk := range tokens {
		g := got[i]
		if g.ID != tk.ID || !bytes.Equal(g.SecretHash, tk.SecretHash) || !g.CreatedAt.Equal(tk.CreatedAt) || !g.ExpiresAt.Equal(tk.ExpiresAt) ||
			g.MaxUses != tk.MaxUses || g.Uses != 0 || g.Revoked || g.CreatedBy != tk.CreatedBy || g.Owner != tk.Owner || g.Note != tk.Note {
			t.Errorf("token %d = %+v, want %+v", i, g, tk)
		}
	}
	uses := func(id string) int {
		t.Helper()
		ts, err := s.ListTokens(ctx)
		must(t, err)
		for _, tk := range ts {
			if tk.ID == id {
				return tk.Uses
			}
		}
		t.Fatalf("token %s not listed", id)
		return 0
	}

	// Uses up to MaxUses, then refused, consuming nothing.
	for i := 1; i <= 2; i++ {
		tk, err := s.UseToken(ctx, hash("two"), base.Add(time.Minute))
		must(t, err)
		if tk.ID != "two-uses" || tk.Uses != i || tk.Owner != "alice" {
			t.Fatalf("use %d: %+v", i, tk)
		}
	}
	_, err = s.UseToken(ctx, hash("two"), base.Add(time.Minute))
	wantErr(t, err, store.ErrTokenInvalid)
	if n := uses("two-uses"); n != 2 {
		t.Errorf("used-up token: uses = %d, want 2", n)
	}

	// Expired: refused at and after ExpiresAt.
	_, err = s.UseToken(ctx, hash("expired"), base.Add(time.Minute))
	wantErr(t, err, store.ErrTokenInvalid)
	_, err = s.UseToken(ctx, hash("expired"), base.Add(time.Hour))
	wantErr(t, err, store.ErrTokenInvalid)
	if n := uses("expired"); n != 0 {
		t.Errorf("expired token: uses = %d, want 0", n)
	}
	if _, err := s.UseToken(ctx, hash("two"), base.Add(-time.Minute)); !errors.Is(err, store.ErrTokenInvalid) {
		t.Errorf("a used-up token is refused whatever the time: %v", err)
	}

	// Revoked.
	_, err = s.UseToken(ctx, hash("revoke"), base)
	must(t, err)
	must(t, s.RevokeToken(ctx, "to-revoke", base.Add(time.Minute)))
	_, err = s.UseToken(ctx, hash("revoke"), base.Add(2*time.Minute))
	wantErr(t, err, store.ErrTokenInvalid)
	if n := uses("to-revoke"); n != 1 {
		t.Errorf("revoked token: uses = %d, want 1", n)
	}
	wantErr(t, s.RevokeToken(ctx, "nope", base), store.ErrNotFound)
	ts, err := s.ListTokens(ctx)
	must(t, err)
	for _, tk := range ts {
		if tk.Revoked != (tk.ID == "to-revoke") {
			t.Errorf("token %s: revoked = %v", tk.ID, tk.Revoked)
		}
	}

	// Unknown secret: refused, not "not found".
	_, err = s.UseToken(ctx, hash("unknown"), base)
	wantErr(t, err, store.ErrTokenInvalid)
	if errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token error wraps ErrNotFound: %v", err)
	}

	// MaxUses 0 and no expiry: any number of uses, any time.
	for i := 1; i <= 5; i++ {
		tk, err := s.UseToken(ctx, hash("unlimited"), base.Add(time.Duration(i)*24*time.Hour))
		must(t, err)
		if tk.Uses != i {
			t.Fatalf("unlimited token use %d: uses = %d", i, tk.Uses)
		}
	}
}

func testTokenConcurrentUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateToken(ctx, store.EnrollToken{ID: "once", SecretHash: hash("once"), CreatedAt: base, MaxUses: 1}))
	const n = 16
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.UseToken(ctx, hash("once"), base.Add(time.Second))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrTokenInvalid):
			t.Errorf("a losing use failed with %v, want ErrTokenInvalid", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses of a one-use token won, want 1", wins, n)
	}
	ts, err := s.ListTokens(ctx)
	must(t, err)
	if ts[0].Uses != 1 {
		t.Fatalf("uses = %d, want 1", ts[0].Uses)
	}
}

func testEnrollDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := device("fw-1", "alice")
	must(t, s.EnrollDevice(ctx, d))
	got := getDevice(t, s, "fw-1")
	if got.ID != d.ID || !bytes.Equal(got.PublicKey, d.PublicKey) || got.CertSerial != d.CertSerial || !got.CertNotAfter.Equal(d.CertNotAfter) ||
		got.TokenID != d.TokenID || got.Owner != "alice" || got.Hostname != d.Hostname || got.OS != d.OS || got.Arch != d.Arch ||
		!got.EnrolledAt.Equal(base) || got.AgentVersion != "1.0.0" || got.Revoked {
		t.Fatalf("enrolled device = %+v, want %+v", got, d)
	}
	if got.MaxSeverity != -1 || got.LastSeq != 0 || !got.LastSeen.IsZero() || got.LastKind != "" || got.Health != nil {
		t.Fatalf("a device without reports: MaxSeverity %d, LastSeq %d, LastSeen %v, LastKind %q, Health %q",
			got.MaxSeverity, got.LastSeq, got.LastSeen, got.LastKind, got.Health)
	}

	// The same key enrolling again updates the device; an empty owner
	// keeps the owner; EnrolledAt stays.
	again := d
	again.CertSerial, again.CertNotAfter, again.TokenID = "serial-2", base.Add(180*24*time.Hour), "tok-2"
	again.Hostname, again.OS, again.Arch, again.AgentVersion = "renamed", "windows", "arm64", "1.1.0"
	again.Owner, again.EnrolledAt = "", base.Add(time.Hour)
	must(t, s.EnrollDevice(ctx, again))
	got = getDevice(t, s, "fw-1")
	if got.CertSerial != "serial-2" || !got.CertNotAfter.Equal(again.CertNotAfter) || got.TokenID != "tok-2" || got.Hostname != "renamed" ||
		got.OS != "windows" || got.Arch != "arm64" || got.AgentVersion != "1.1.0" || got.Owner != "alice" || !got.EnrolledAt.Equal(base) {
		t.Fatalf("re-enrolled device = %+v", got)
	}
	again.Owner = "bob"
	must(t, s.EnrollDevice(ctx, again))
	if got := getDevice(t, s, "fw-1"); got.Owner != "bob" {
		t.Fatalf("re-enrollment with owner bob: owner %q", got.Owner)
	}

	// Another key under the same id is refused.
	other := again
	other.PublicKey = []byte("another key")
	wantErr(t, s.EnrollDevice(ctx, other), store.ErrConflict)

	// A revoked device cannot re-enroll.
	must(t, s.RevokeDevice(ctx, "fw-1", "stolen", base.Add(2*time.Hour)))
	wantErr(t, s.EnrollDevice(ctx, again), store.ErrConflict)
	got = getDevice(t, s, "fw-1")
	if !got.Revoked || got.CertSerial != "serial-2" {
		t.Fatalf("refused re-enrollment changed the device: %+v", got)
	}

	_, err := s.GetDevice(ctx, "fw-none")
	wantErr(t, err, store.ErrNotFound)
}

func testDeviceUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	enroll(t, s, "fw-1", "alice")
	enroll(t, s, "fw-2", "alice")

	must(t, s.RevokeDevice(ctx, "fw-1", "stolen", base.Add(time.Hour)))
	got := getDevice(t, s, "fw-1")
	if !got.Revoked || got.RevokeReason != "stolen" || !got.RevokedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("revoked device = %+v", got)
	}
	// Revoking again keeps the first revocation.
	must(t, s.RevokeDevice(ctx, "fw-1", "again", base.Add(2*time.Hour)))
	if got := getDevice(t, s, "fw-1"); got.RevokeReason != "stolen" || !got.RevokedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("second revocation changed it: %q %v", got.RevokeReason, got.RevokedAt)
	}
	if getDevice(t, s, "fw-2").Revoked {
		t.Fatal("revoking fw-1 revoked fw-2")
	}

	must(t, s.UpdateCertificate(ctx, "fw-2", "serial-9", base.Add(400*24*time.Hour)))
	must(t, s.SetOwner(ctx, "fw-2", "carol"))
	got = getDevice(t, s, "fw-2")
	if got.CertSerial != "serial-9" || !got.CertNotAfter.Equal(base.Add(400*24*time.Hour)) || got.Owner != "carol" {
		t.Fatalf("updated device = %+v", got)
	}

	wantErr(t, s.RevokeDevice(ctx, "fw-none", "x", base), store.ErrNotFound)
	wantErr(t, s.UpdateCertificate(ctx, "fw-none", "s", base), store.ErrNotFound)
	wantErr(t, s.SetOwner(ctx, "fw-none", "o"), store.ErrNotFound)
}

func testListDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 25
	for i := range n {
		id := fmt.Sprintf("fw-%02d", (i*7)%n) // enrolled out of id order
		d := device(id, []string{"alice", "bob"}[i%2])
		d.EnrolledAt = base.Add(time.Duration(i) * time.Minute)
		must(t, s.EnrollDevice(ctx, d))
	}
	// fw-00..fw-09 report: fw-0k last seen at base+k hours.
	for k := range 10 {
		r := report(fmt.Sprintf("fw-%02d", k), 1, "heartbeat")
		r.ReceivedAt = base.Add(time.Duration(k) * time.Hour)
		storeReport(t, s, r)
	}
	for _, id := range []string{"fw-03", "fw-17"} {
		must(t, s.RevokeDevice(ctx, id, "gone", base))
	}

	ids := func(ds []store.Device) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	var all []string
	for i := range n {
		all = append(all, fmt.Sprintf("fw-%02d", i))
	}
	for _, limit := range []int{1, 7, 10, 25, 100} {
		got := walk(t, limit, func(p store.Page) ([]store.Device, string, error) {
			return s.ListDevices(ctx, store.DeviceFilter{}, p)
		})
		if !slices.Equal(ids(got), all) {
			t.Fatalf("limit %d: ids %v, want %v", limit, ids(got), all)
		}
	}
	ds, next, err := s.ListDevices(ctx, store.DeviceFilter{}, store.Page{Limit: 10})
	must(t, err)
	if len(ds) != 10 || next == "" {
		t.Fatalf("first page: %d devices, cursor %q", len(ds), next)
	}
	ds, next, err = s.ListDevices(ctx, store.DeviceFilter{}, store.Page{})
	must(t, err)
	if len(ds) != n || next != "" {
		t.Fatalf("default page: %d devices, cursor %q", len(ds), next)
	}

	list := func(f store.DeviceFilter) []string {
		t.Helper()
		return ids(walk(t, 4, func(p store.Page) ([]store.Device, string, error) { return s.ListDevices(ctx, f, p) }))
	}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    store.DeviceFilter
		want func(i int, d store.Device) bool
	}{
		{"owner", store.DeviceFilter{Owner: "bob"}, func(_ int, d store.Device) bool { return d.Owner == "bob" }},
		{"revoked", store.DeviceFilter{Revoked: &yes}, func(_ int, d store.Device) bool { return d.Revoked }},
		{"not revoked", store.DeviceFilter{Revoked: &no}, func(_ int, d store.Device) bool { return !d.Revoked }},
		{"owner and not revoked", store.DeviceFilter{Owner: "alice", Revoked: &no}, func(_ int, d store.Device) bool { return d.Owner == "alice" && !d.Revoked }},
		// Silent since base+5h: fw-00..fw-04 (last seen before), and the
		// devices never seen, enrolled before base+5h (all of them).
		{"silent", store.DeviceFilter{SilentSince: base.Add(5 * time.Hour)}, func(i int, _ store.Device) bool { return i < 5 || i >= 10 }},
		// Silent since base+10m: fw-00 (seen at base) and the unseen
		// devices enrolled before base+10m.
		{"silent early", store.DeviceFilter{SilentSince: base.Add(10 * time.Minute)}, func(i int, d store.Device) bool {
			return i == 0 || (i >= 10 && d.EnrolledAt.Before(base.Add(10*time.Minute)))
		}},
	} {
		alld, err := s.AllDevices(ctx)
		must(t, err)
		var want []string
		for i, d := range alld {
			if tc.want(i, d) {
				want = append(want, d.ID)
			}
		}
		if got := list(tc.f); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s: %v, want %v", tc.name, got, want)
		}
	}

	alld, err := s.AllDevices(ctx)
	must(t, err)
	if !slices.Equal(ids(alld), all) {
		t.Fatalf("AllDevices: %v", ids(alld))
	}
	_, _, err = s.ListDevices(ctx, store.DeviceFilter{}, store.Page{After: "not a cursor"})
	wantErr(t, err, store.ErrInvalid)
}

func testStoreReport(t *testing.T, s store.Store) {
	ctx := t.Context()
	enroll(t, s, "fw-1", "alice")
	r := report("fw-1", 1, "scan", 1, 3)
	r.MaxSeverity = 3
	r.Network = store.Network{
		GatewayHash: "gw", BSSIDHashes: []string{"b1", "b2"}, SSIDHash: "ss", KVMSerials: []string{"k1"},
		Peers: []store.PeerHeard{{DeviceID: "fw-2", Via: "mdns", At: base}},
	}
	storeReport(t, s, r)
	d := getDevice(t, s, "fw-1")
	if d.LastSeq != 1 || !d.LastSeen.Equal(r.ReceivedAt) || d.LastKind != "scan" || d.PublicIP != r.PublicIP ||
		d.AgentVersion != "1.0.0" || d.PolicyVersion != "p1" || d.MaxSeverity != 3 || !bytes.Equal(d.Health, r.Health) {
		t.Fatalf("device after a scan report: %+v", d)
	}
	n := d.Network
	if n.GatewayHash != "gw" || !slices.Equal(n.BSSIDHashes, []string{"b1", "b2"}) || n.SSIDHash != "ss" || !slices.Equal(n.KVMSerials, []string{"k1"}) ||
		len(n.Peers) != 1 || n.Peers[0].DeviceID != "fw-2" || n.Peers[0].Via != "mdns" || !n.Peers[0].At.Equal(base) {
		t.Fatalf("device network = %+v", n)
	}
	rs, _, err := s.ListReports(ctx, "fw-1", store.Page{})
	must(t, err)
	if len(rs) != 1 {
		t.Fatalf("%d reports", len(rs))
	}
	g := rs[0]
	if g.DeviceID != "fw-1" || g.Seq != 1 || g.Kind != "scan" || g.BootID != "boot-1" || !g.SentAt.Equal(r.SentAt) || !g.ReceivedAt.Equal(r.ReceivedAt) ||
		g.PublicIP != r.PublicIP || !bytes.Equal(g.Envelope, r.Envelope) || g.MaxSeverity != 3 || g.AgentVersion != "1.0.0" || g.PolicyVersion != "p1" ||
		!bytes.Equal(g.Health, r.Health) || g.Network.GatewayHash != "gw" || len(g.Findings) != 2 {
		t.Fatalf("stored report = %+v", g)
	}
	for i, f := range g.Findings {
		w := r.Findings[i]
		if f.DeviceID != "fw-1" || f.Seq != 1 || f.FindingID != w.FindingID || f.Detector != w.Detector || f.Rule != w.Rule ||
			f.Severity != w.Severity || f.Confidence != w.Confidence || f.Title != w.Title || f.Summary != w.Summary ||
			!bytes.Equal(f.JSON, w.JSON) || !f.ObservedAt.Equal(w.ObservedAt) {
			t.Fatalf("finding %d = %+v, want %+v", i, f, w)
		}
	}

	// A duplicate (device_id, seq) changes nothing.
	dup := report("fw-1", 1, "heartbeat", 4)
	dup.ReceivedAt, dup.PublicIP, dup.Envelope = base.Add(time.Hour), "198.51.100.1", []byte("other")
	isDup, err := s.StoreReport(ctx, dup)
	must(t, err)
	if !isDup {
		t.Fatal("a repeated seq was not reported duplicate")
	}
	if got := getDevice(t, s, "fw-1"); !devicesEqual(got, d) {
		t.Fatalf("a duplicate changed the device:\n%+v\nwas\n%+v", got, d)
	}
	rs, _, err = s.ListReports(ctx, "fw-1", store.Page{})
	must(t, err)
	fs, _, err := s.ListFindings(ctx, store.FindingFilter{}, store.Page{})
	must(t, err)
	if len(rs) != 1 || !bytes.Equal(rs[0].Envelope, r.Envelope) || len(fs) != 2 {
		t.Fatalf("after a duplicate: %d reports, %d findings", len(rs), len(fs))
	}

	// A heartbeat moves the state but keeps the last scan's health and
	// severity.
	storeReport(t, s, report("fw-1", 2, "heartbeat"))
	d = getDevice(t, s, "fw-1")
	if d.LastSeq != 2 || d.LastKind != "heartbeat" || d.MaxSeverity != 3 || !bytes.Equal(d.Health, r.Health) || d.Network.GatewayHash != "gw-2" {
		t.Fatalf("after a heartbeat: %+v", d)
	}
	// A scan without findings: severity 0.
	storeReport(t, s, report("fw-1", 3, "scan"))
	if d = getDevice(t, s, "fw-1"); d.MaxSeverity != 0 || !bytes.Equal(d.Health, report("fw-1", 3, "scan").Health) {
		t.Fatalf("after a clean scan: MaxSeverity %d, health %s", d.MaxSeverity, d.Health)
	}

	// LastSeq only increases: a late, older report is stored but does not
	// roll the device state back; LastSeen only moves forward.
	storeReport(t, s, report("fw-1", 9, "scan", 2))
	late := report("fw-1", 5, "scan", 4)
	late.ReceivedAt = base.Add(time.Hour)
	storeReport(t, s, late)
	d = getDevice(t, s, "fw-1")
	if d.LastSeq != 9 || d.MaxSeverity != 2 || d.PublicIP != report("fw-1", 9, "scan").PublicIP || !d.LastSeen.Equal(base.Add(time.Hour)) {
		t.Fatalf("after a late report: LastSeq %d, MaxSeverity %d, PublicIP %s, LastSeen %v", d.LastSeq, d.MaxSeverity, d.PublicIP, d.LastSeen)
	}
	early := report("fw-1", 4, "heartbeat")
	early.ReceivedAt = base
	storeReport(t, s, early)
	if d = getDevice(t, s, "fw-1"); !d.LastSeen.Equal(base.Add(time.Hour)) || d.LastSeq != 9 {
		t.Fatalf("an older report moved LastSeen back to %v (LastSeq %d)", d.LastSeen, d.LastSeq)
	}

	// A report of an unknown device: ErrNotFound, nothing stored.
	_, err = s.StoreReport(ctx, report("fw-none", 1, "scan", 1))
	wantErr(t, err, store.ErrNotFound)
	if rs, _, err := s.ListReports(ctx, "fw-none", store.Page{}); err != nil || len(rs) != 0 {
		t.Fatalf("unknown device's report: %d stored, %v", len(rs), err)
	}
}

// devicesEqual compares devices field by field (times with Equal).
func devicesEqual(a, b store.Device) bool {
	ta := []time.Time{a.CertNotAfter, a.EnrolledAt, a.RevokedAt, a.LastSeen}
	tb := []time.Time{b.CertNotAfter, b.EnrolledAt, b.RevokedAt, b.LastSeen}
	for i := range ta {
		if !ta[i].Equal(tb[i]) {
			return false
		}
	}
	a.CertNotAfter, a.EnrolledAt, a.RevokedAt, a.LastSeen = tb[0], tb[1], tb[2], tb[3]
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

func testStoreReportAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	enroll(t, s, "fw-1", "")
	storeReport(t, s, report("fw-1", 1, "scan", 1))
	before := getDevice(t, s, "fw-1")

	// The second finding's severity is out of range: the database refuses
	// it after the report row and the first finding were written.
	bad := report("fw-1", 2, "scan", 2, 9)
	if _, err := s.StoreReport(ctx, bad); err == nil {
		t.Fatal("a report with a finding of severity 9 was stored")
	}
	if got := getDevice(t, s, "fw-1"); !devicesEqual(got, before) {
		t.Fatalf("a failed report changed the device:\n%+v\nwas\n%+v", got, before)
	}
	rs, _, err := s.ListReports(ctx, "fw-1", store.Page{})
	must(t, err)
	fs, _, err := s.ListFindings(ctx, store.FindingFilter{DeviceID: "fw-1"}, store.Page{})
	must(t, err)
	if len(rs) != 1 || len(fs) != 1 {
		t.Fatalf("a failed report left %d reports, %d findings; want 1, 1", len(rs), len(fs))
	}

	// Its seq was not taken: the corrected report is stored.
	storeReport(t, s, report("fw-1", 2, "scan", 2, 4))
	if d := getDevice(t, s, "fw-1"); d.LastSeq != 2 || d.MaxSeverity != 4 {
		t.Fatalf("corrected report: LastSeq %d, MaxSeverity %d", d.LastSeq, d.MaxSeverity)
	}
}

func testListReports(t *testing.T, s store.Store) {
	ctx := t.Context()
	enroll(t, s, "fw-a", "")
	enroll(t, s, "fw-b", "")
	for seq := uint64(1); seq <= 7; seq++ {
		storeReport(t, s, report("fw-a", seq, "scan", int(seq%5)))
		if seq <= 3 {
			storeReport(t, s, report("fw-b", seq, "heartbeat"))
		}
	}
	got := walk(t, 3, func(p store.Page) ([]store.StoredReport, string, error) { return s.ListReports(ctx, "fw-a", p) })
	var seqs []uint64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
		if r.DeviceID != "fw-a" || len(r.Findings) != 1 || r.Findings[0].Seq != r.Seq || r.Findings[0].Severity != int(r.Seq%5) {
			t.Fatalf("report %d: %+v", r.Seq, r)
		}
	}
	if !slices.Equal(seqs, []uint64{7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("fw-a reports: seqs %v, want newest first", seqs)
	}
	all := walk(t, 4, func(p store.Page) ([]store.StoredReport, string, error) { return s.ListReports(ctx, "", p) })
	if len(all) != 10 {
		t.Fatalf("all reports: %d, want 10", len(all))
	}
	rs, next, err := s.ListReports(ctx, "fw-none", store.Page{})
	if err != nil || len(rs) != 0 || next != "" {
		t.Fatalf("reports of an unknown device: %v %q %v", rs, next, err)
	}
}

func testListFindings(t *testing.T, s store.Store) {
	ctx := t.Context()
	enroll(t, s, "fw-a", "")
	enroll(t, s, "fw-b", "")
	// One report of 1001 findings: f-0 … f-1000, severity i%5, observed
	// at base+i seconds.
	const n = 1001
	r := report("fw-a", 1, "scan")
	for i := range n {
		r.Findings = append(r.Findings, store.StoredFinding{
			FindingID: fmt.Sprintf("f-%d", i), Detector: "d", Rule: "r", Severity: i % 5, JSON: []byte(`{}`),
			ObservedAt: base.Add(time.Duration(i) * time.Second),
		})
	}
	storeReport(t, s, r)
	storeReport(t, s, report("fw-b", 1, "scan", 4))

	ids := func(fs []store.StoredFinding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.FindingID)
		}
		return out
	}
	var want []string // newest first
	for i := n - 1; i >= 0; i-- {
		want = append(want, fmt.Sprintf("f-%d", i))
	}
	f := store.FindingFilter{DeviceID: "fw-a"}

	// Page limits: default 100, at most 1000.
	fs, next, err := s.ListFindings(ctx, f, store.Page{})
	must(t, err)
	if len(fs) != 100 || next == "" {
		t.Fatalf("default page: %d findings, cursor %q", len(fs), next)
	}
	fs, next, err = s.ListFindings(ctx, f, store.Page{Limit: 5000})
	must(t, err)
	if len(fs) != 1000 || next == "" {
		t.Fatalf("page of limit 5000: %d findings, cursor %q; want 1000 and a cursor", len(fs), next)
	}
	last, next, err := s.ListFindings(ctx, f, store.Page{Limit: 5000, After: next})
	must(t, err)
	if len(last) != 1 || next != "" || last[0].FindingID != "f-0" {
		t.Fatalf("last page: %v, cursor %q", ids(last), next)
	}

	// Cursor round trip over several pages, in a stable order, while
	// new findings arrive between pages.
	var got []store.StoredFinding
	p := store.Page{Limit: 300}
	extra := 0 // findings stored between pages: severity 4, observed at base+2m…
	for {
		fs, next, err := s.ListFindings(ctx, f, p)
		must(t, err)
		got = append(got, fs...)
		if next == "" {
			break
		}
		extra++
		storeReport(t, s, report("fw-a", uint64(1+extra), "scan", 4))
		p.After = next
	}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("paged findings are not f-1000 … f-0 once each (%d items)", len(got))
	}

	// Filters.
	count := func(f store.FindingFilter) int {
		t.Helper()
		return len(walk(t, 1000, func(p store.Page) ([]store.StoredFinding, string, error) { return s.ListFindings(ctx, f, p) }))
	}
	if c := count(store.FindingFilter{DeviceID: "fw-b"}); c != 1 {
		t.Errorf("fw-b findings: %d, want 1", c)
	}
	if extra != 3 {
		t.Fatalf("%d pages of 300, want 4", extra+1)
	}
	// i%5 ≥ 3 for 400 of i in 0..1000, and the findings stored between
	// pages.
	if c := count(store.FindingFilter{DeviceID: "fw-a", MinSeverity: 3}); c != 400+extra {
		t.Errorf("fw-a findings of severity ≥ 3: %d, want %d", c, 400+extra)
	}
	if c := count(store.FindingFilter{DeviceID: "fw-a", Since: base.Add(900 * time.Second)}); c != 101 {
		t.Errorf("fw-a findings since base+900s: %d, want 101", c)
	}
	// f-999 (fw-a) and none of fw-b (observed at base+1m).
	if c := count(store.FindingFilter{MinSeverity: 4, Since: base.Add(999 * time.Second)}); c != 1 {
		t.Errorf("severity-4 findings since base+999s: %d, want 1", c)
	}
	if c := count(store.FindingFilter{MinSeverity: 4}); c != 200+extra+1 {
		t.Errorf("severity-4 findings: %d, want %d", c, 200+extra+1)
	}
	_, _, err = s.ListFindings(ctx, f, store.Page{After: "eA"})
	wantErr(t, err, store.ErrInvalid)
}

func testUpsertAlert(t *testing.T, s store.Store) {
	ctx := t.Context()
	sinks := []string{"siem", "mail"}

	// Created: one delivery per sink.
	a, ch := upsert(t, s, newAlert("farm:ip:1", 2, base, "fw-1", "fw-2", "fw-1"), sinks...)
	if !ch.Created || !ch.Notified || !slices.Equal(ch.NewMembers, []string{"fw-1", "fw-2"}) || ch.SeverityRaised {
		t.Fatalf("create: change %+v", ch)
	}
	if a.ID == 0 || a.Status != store.AlertNew || a.Count != 1 || a.Severity != 2 || !slices.Equal(a.Members, []string{"fw-1", "fw-2"}) ||
		!a.FirstSeen.Equal(base) || !a.LastSeen.Equal(base) || a.Kind != "farm" {
		t.Fatalf("created alert: %+v", a)
	}
	id := a.ID
	wantPending(t, s, map[string]int{"siem": 1, "mail": 1})

	// The same members at a lower severity: merged, no notification.
	next := newAlert("farm:ip:1", 1, base.Add(time.Minute), "fw-2")
	next.Title, next.Summary, next.Evidence = "title 2", "summary 2", []byte(`{"v":2}`)
	a, ch = upsert(t, s, next, sinks...)
	if ch.Created || ch.Notified || len(ch.NewMembers) != 0 || ch.SeverityRaised {
		t.Fatalf("repeat: change %+v", ch)
	}
	if a.ID != id || a.Count != 2 || a.Severity != 2 || a.Title != "title 2" || a.Summary != "summary 2" || string(a.Evidence) != `{"v":2}` ||
		!slices.Equal(a.Members, []string{"fw-1", "fw-2"}) || !a.FirstSeen.Equal(base) || !a.LastSeen.Equal(base.Add(time.Minute)) {
		t.Fatalf("merged alert: %+v", a)
	}
	if stored, err := s.GetAlert(ctx, id); err != nil || stored.Count != 2 || stored.Title != "title 2" || !slices.Equal(stored.Members, a.Members) {
		t.Fatalf("stored merged alert: %+v, %v", stored, err)
	}
	wantPending(t, s, map[string]int{"siem": 1, "mail": 1})

	// A new member: notified.
	a, ch = upsert(t, s, newAlert("farm:ip:1", 2, base.Add(2*time.Minute), "fw-3", "fw-1"), sinks...)
	if !ch.Notified || !slices.Equal(ch.NewMembers, []string{"fw-3"}) || ch.SeverityRaised || a.Count != 3 ||
		!slices.Equal(a.Members, []string{"fw-1", "fw-2", "fw-3"}) {
		t.Fatalf("new member: %+v, %+v", ch, a)
	}
	wantPending(t, s, map[string]int{"siem": 2, "mail": 2})

	// Severity raised: notified.
	a, ch = upsert(t, s, newAlert("farm:ip:1", 4, base.Add(3*time.Minute), "fw-1"), sinks...)
	if !ch.Notified || !ch.SeverityRaised || len(ch.NewMembers) != 0 || a.Severity != 4 {
		t.Fatalf("severity raised: %+v, %+v", ch, a)
	}
	wantPending(t, s, map[string]int{"siem": 3, "mail": 3})

	// Suppressed: merged, not notified.
	setStatus(t, s, id, store.AlertSuppressed, base.Add(time.Hour), base.Add(4*time.Minute))
	a, ch = upsert(t, s, newAlert("farm:ip:1", 4, base.Add(10*time.Minute), "fw-4"), sinks...)
	if ch.Notified || !slices.Equal(ch.NewMembers, []string{"fw-4"}) || a.Status != store.AlertSuppressed || a.ID != id || a.Count != 5 {
		t.Fatalf("while suppressed: %+v, %+v", ch, a)
	}
	wantPending(t, s, map[string]int{"siem": 3, "mail": 3})

	// The suppression expired: notified, and the alert is new again.
	a, ch = upsert(t, s, newAlert("farm:ip:1", 4, base.Add(2*time.Hour), "fw-5"), sinks...)
	if !ch.Notified || a.Status != store.AlertNew || !a.SuppressedTill.IsZero() || a.ID != id {
		t.Fatalf("after the suppression: %+v, %+v", ch, a)
	}
	wantPending(t, s, map[string]int{"siem": 4, "mail": 4})

	// Resolved: the next detection opens a new alert.
	setStatus(t, s, id, store.AlertResolved, time.Time{}, base.Add(3*time.Hour))
	b, ch := upsert(t, s, newAlert("farm:ip:1", 1, base.Add(4*time.Hour), "fw-1"), sinks...)
	if !ch.Created || b.ID == id || b.Count != 1 || b.Severity != 1 {
		t.Fatalf("after resolution: %+v, %+v", ch, b)
	}
	if old, err := s.GetAlert(ctx, id); err != nil || old.Status != store.AlertResolved || old.Count != 6 {
		t.Fatalf("resolved alert: %+v, %v", old, err)
	}
	wantPending(t, s, map[string]int{"siem": 5, "mail": 5})

	// No sinks: nothing to notify.
	_, ch = upsert(t, s, newAlert("farm:ip:2", 3, base, "fw-9"))
	if !ch.Created || ch.Notified {
		t.Fatalf("without sinks: %+v", ch)
	}
	wantPending(t, s, map[string]int{"siem": 5, "mail": 5})

	// The first delivery is "created", later ones "updated".
	ds, err := s.ClaimDeliveries(ctx, "siem", 100, base.Add(5*time.Hour), time.Minute)
	must(t, err)
	var events []string
	for _, d := range ds {
		events = append(events, d.Event)
	}
	if !slices.Equal(events, []string{"created", "updated", "updated", "updated", "created"}) || ds[0].AlertID != id || ds[4].AlertID != b.ID {
		t.Fatalf("delivery events %v", events)
	}

	_, _, err = s.UpsertAlert(ctx, store.Alert{Title: "no key"}, sinks)
	wantErr(t, err, store.ErrInvalid)
}

func testUpsertAlertConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		changes = make([]store.AlertChange, n)
		errs    = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			_, changes[i], errs[i] = s.UpsertAlert(ctx, newAlert("farm:gw:x", 2, base.Add(time.Duration(i)*time.Second), fmt.Sprintf("fw-%d", i)), []string{"siem"})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		must(t, errs[i])
		if changes[i].Created {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d concurrent upserts created the alert, want 1", created)
	}
	as, _, err := s.ListAlerts(ctx, store.AlertFilter{}, store.Page{})
	must(t, err)
	if len(as) != 1 || as[0].Count != n || len(as[0].Members) != n {
		t.Fatalf("alerts after concurrent upserts: %+v", as)
	}
	// Each upsert brought a new member: each notified.
	wantPending(t, s, map[string]int{"siem": n})
}

func testAlertLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	all := []store.AlertStatus{store.AlertNew, store.AlertAcknowledged, store.AlertResolved, store.AlertSuppressed}
	allowed := map[[2]store.AlertStatus]bool{
		{store.AlertNew, store.AlertAcknowledged}:        true,
		{store.AlertNew, store.AlertResolved}:            true,
		{store.AlertAcknowledged, store.AlertResolved}:   true,
		{store.AlertNew, store.AlertSuppressed}:          true,
		{store.AlertAcknowledged, store.AlertSuppressed}: true,
		{store.AlertSuppressed, store.AlertSuppressed}:   true,
		{store.AlertSuppressed, store.AlertNew}:          true,
	}
	at := base.Add(time.Hour)
	until := base.Add(48 * time.Hour)
	// reach puts a new alert in status from.
	reach := func(key string, from store.AlertStatus) store.Alert {
		a, _ := upsert(t, s, newAlert(key, 2, base, "fw-1"))
		switch from {
		case store.AlertAcknowledged, store.AlertResolved, store.AlertSuppressed:
			a = setStatus(t, s, a.ID, from, until, base.Add(time.Minute))
		}
		return a
	}
	for _, from := range all {
		for _, to := range all {
			key := fmt.Sprintf("k:%s:%s", from, to)
			a := reach(key, from)
			audits, _, err := s.ListAudit(ctx, store.Page{Limit: 1000})
			must(t, err)
			got, err := s.SetAlertStatus(ctx, a.ID, to, "reason "+key, until, store.AuditEntry{At: at, Actor: "analyst", Action: "alert.set", Target: key})
			after, _, err2 := s.ListAudit(ctx, store.Page{Limit: 1000})
			must(t, err2)
			stored, err2 := s.GetAlert(ctx, a.ID)
			must(t, err2)
			if !allowed[[2]store.AlertStatus{from, to}] {
				if !errors.Is(err, store.ErrInvalid) {
					t.Errorf("%s → %s: error %v, want ErrInvalid", from, to, err)
				}
				if stored.Status != from || len(after) != len(audits) {
					t.Errorf("%s → %s refused but the alert is %s and %d audit entries were added", from, to, stored.Status, len(after)-len(audits))
				}
				continue
			}
			if err != nil {
				t.Errorf("%s → %s: %v", from, to, err)
				continue
			}
			if got.Status != to || stored.Status != to || stored.StatusReason != "reason "+key || !stored.UpdatedAt.Equal(at) {
				t.Errorf("%s → %s: returned %+v, stored %+v", from, to, got, stored)
			}
			wantTill := time.Time{}
			if to == store.AlertSuppressed {
				wantTill = until
			}
			if !stored.SuppressedTill.Equal(wantTill) {
				t.Errorf("%s → %s: SuppressedTill %v, want %v", from, to, stored.SuppressedTill, wantTill)
			}
			if len(after) != len(audits)+1 {
				t.Errorf("%s → %s: %d audit entries added, want 1", from, to, len(after)-len(audits))
				continue
			}
			e := after[0]
			if e.Actor != "analyst" || e.Action != "alert.set" || e.Target != key || !e.At.Equal(at) {
				t.Errorf("%s → %s: audit entry %+v", from, to, e)
			}
		}
	}

	// Defaults of the audit entry.
	a := reach("k:defaults", store.AlertNew)
	_, err := s.SetAlertStatus(ctx, a.ID, store.AlertAcknowledged, "", time.Time{}, store.AuditEntry{At: at, Actor: "bob"})
	must(t, err)
	es, _, err := s.ListAudit(ctx, store.Page{Limit: 1})
	must(t, err)
	if e := es[0]; e.Actor != "bob" || e.Action == "" || !strings.Contains(e.Target, fmt.Sprint(a.ID)) {
		t.Errorf("audit entry with defaults: %+v", e)
	}

	// A suppression already over is refused; one without end lasts.
	a = reach("k:until", store.AlertNew)
	_, err = s.SetAlertStatus(ctx, a.ID, store.AlertSuppressed, "r", at.Add(-time.Minute), store.AuditEntry{At: at})
	wantErr(t, err, store.ErrInvalid)
	setStatus(t, s, a.ID, store.AlertSuppressed, time.Time{}, at)
	b, ch := upsert(t, s, newAlert("k:until", 4, base.Add(1000*time.Hour), "fw-7"), "siem")
	if ch.Notified || b.Status != store.AlertSuppressed {
		t.Errorf("a suppression without end ended: %+v %+v", ch, b)
	}

	_, err = s.GetAlert(ctx, 999999)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.SetAlertStatus(ctx, 999999, store.AlertAcknowledged, "", time.Time{}, store.AuditEntry{At: at})
	wantErr(t, err, store.ErrNotFound)
}

func testListAlerts(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ids []int64
	for i := range 12 {
		kind := []string{"farm", "kvm", "remote"}[i%3]
		a := newAlert(fmt.Sprintf("k%d", i), i%5, base.Add(time.Duration(i)*time.Minute), fmt.Sprintf("fw-%d", i%4), "fw-common")
		a.Kind = kind
		a, _ = upsert(t, s, a)
		ids = append(ids, a.ID)
	}
	setStatus(t, s, ids[0], store.AlertAcknowledged, time.Time{}, base)
	setStatus(t, s, ids[1], store.AlertResolved, time.Time{}, base)
	setStatus(t, s, ids[2], store.AlertSuppressed, base.Add(time.Hour), base)

	list := func(f store.AlertFilter) []int64 {
		t.Helper()
		as := walk(t, 5, func(p store.Page) ([]store.Alert, string, error) { return s.ListAlerts(ctx, f, p) })
		var out []int64
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	pick := func(keep func(i int) bool) []int64 {
		var out []int64
		for i := len(ids) - 1; i >= 0; i-- { // newest first
			if keep(i) {
				out = append(out, ids[i])
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.AlertFilter
		want []int64
	}{
		{"all", store.AlertFilter{}, pick(func(int) bool { return true })},
		{"new", store.AlertFilter{Status: []store.AlertStatus{store.AlertNew}}, pick(func(i int) bool { return i > 2 })},
		{"open", store.AlertFilter{Status: []store.AlertStatus{store.AlertNew, store.AlertAcknowledged, store.AlertSuppressed}}, pick(func(i int) bool { return i != 1 })},
		{"kind", store.AlertFilter{Kind: "kvm"}, pick(func(i int) bool { return i%3 == 1 })},
		{"severity", store.AlertFilter{MinSeverity: 3}, pick(func(i int) bool { return i%5 >= 3 })},
		{"device", store.AlertFilter{DeviceID: "fw-2"}, pick(func(i int) bool { return i%4 == 2 })},
		{"common device", store.AlertFilter{DeviceID: "fw-common"}, pick(func(int) bool { return true })},
		{"no device", store.AlertFilter{DeviceID: "fw-"}, nil},
		{"combined", store.AlertFilter{Kind: "farm", MinSeverity: 1, DeviceID: "fw-common", Status: []store.AlertStatus{store.AlertNew}},
			pick(func(i int) bool { return i%3 == 0 && i%5 >= 1 && i > 2 })},
	} {
		if got := list(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// A cursor of another listing is refused.
	_, next, err := s.ListAudit(ctx, store.Page{Limit: 1})
	must(t, err)
	if next != "" {
		_, _, err = s.ListAlerts(ctx, store.AlertFilter{}, store.Page{After: next})
		wantErr(t, err, store.ErrInvalid)
	}
}

func testDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, _ := upsert(t, s, newAlert("k1", 2, base, "fw-1"), "siem", "mail")
	wantPending(t, s, map[string]int{"siem": 1, "mail": 1})

	claim := func(sink string, maxN int, at time.Time) []store.Delivery {
		t.Helper()
		ds, err := s.ClaimDeliveries(ctx, sink, maxN, at, time.Minute)
		must(t, err)
		return ds
	}
	ds := claim("siem", 10, base)
	if len(ds) != 1 {
		t.Fatalf("claimed %d, want 1", len(ds))
	}
	d := ds[0]
	if d.Sink != "siem" || d.AlertID != a.ID || d.Event != "created" || d.Attempts != 1 || !d.NextAt.Equal(base.Add(time.Minute)) ||
		d.LastError != "" || !d.CreatedAt.Equal(base) {
		t.Fatalf("claimed delivery %+v", d)
	}
	// Leased: not claimed again before the lease ends, by anyone.
	if ds := claim("siem", 10, base.Add(59*time.Second)); len(ds) != 0 {
		t.Fatalf("a leased delivery was claimed again: %+v", ds)
	}
	// The lease ended (the claimer crashed): claimed again.
	ds = claim("siem", 10, base.Add(time.Minute))
	if len(ds) != 1 || ds[0].ID != d.ID || ds[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v", ds)
	}
	// Retry: due again at next, with the error.
	must(t, s.RetryDelivery(ctx, d.ID, base.Add(10*time.Minute), "HTTP 503"))
	if ds := claim("siem", 10, base.Add(5*time.Minute)); len(ds) != 0 {
		t.Fatalf("a delivery to retry later was claimed early: %+v", ds)
	}
	ds = claim("siem", 10, base.Add(10*time.Minute))
	if len(ds) != 1 || ds[0].LastError != "HTTP 503" || ds[0].Attempts != 3 {
		t.Fatalf("retried delivery: %+v", ds)
	}
	wantPending(t, s, map[string]int{"siem": 1, "mail": 1})

	// Complete: done for good.
	must(t, s.CompleteDelivery(ctx, d.ID))
	wantPending(t, s, map[string]int{"mail": 1})
	if ds := claim("siem", 10, base.Add(24*time.Hour)); len(ds) != 0 {
		t.Fatalf("a completed delivery was claimed: %+v", ds)
	}
	wantErr(t, s.RetryDelivery(ctx, d.ID, base, "late"), store.ErrNotFound)
	wantErr(t, s.CompleteDelivery(ctx, 999999), store.ErrNotFound)
	wantErr(t, s.RetryDelivery(ctx, 999999, base, "x"), store.ErrNotFound)

	// max, oldest first, per sink.
	for i := range 4 {
		upsert(t, s, newAlert(fmt.Sprintf("k%d", i+2), 2, base, "fw-1"), "mail")
	}
	wantPending(t, s, map[string]int{"mail": 5})
	first := claim("mail", 2, base)
	rest := claim("mail", 10, base)
	if len(first) != 2 || len(rest) != 3 || first[0].ID >= first[1].ID || first[1].ID >= rest[0].ID || first[0].AlertID != a.ID {
		t.Fatalf("claims of 2 then 10: %+v, %+v", first, rest)
	}
	for _, d := range append(first, rest...) {
		if d.Sink != "mail" {
			t.Fatalf("claimed for mail: %+v", d)
		}
		must(t, s.CompleteDelivery(ctx, d.ID))
	}
	wantPending(t, s, map[string]int{})

	_, err := s.ClaimDeliveries(ctx, "mail", 1, base, 0)
	wantErr(t, err, store.ErrInvalid)
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want []store.AuditEntry
	for i := range 7 {
		e := store.AuditEntry{At: base.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprintf("user%d", i), Action: "token.create",
			Target: fmt.Sprintf("token/%d", i), Detail: "detail " + fmt.Sprint(i)}
		must(t, s.AddAudit(ctx, e))
		want = append([]store.AuditEntry{e}, want...)
	}
	got := walk(t, 3, func(p store.Page) ([]store.AuditEntry, string, error) { return s.ListAudit(ctx, p) })
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		w := want[i]
		if e.ID == 0 || (i > 0 && e.ID >= got[i-1].ID) || !e.At.Equal(w.At) || e.Actor != w.Actor || e.Action != w.Action || e.Target != w.Target || e.Detail != w.Detail {
			t.Fatalf("entry %d = %+v, want %+v (newest first)", i, e, w)
		}
	}
	wantErr(t, s.AddAudit(ctx, store.AuditEntry{At: base, Actor: "x"}), store.ErrInvalid)
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	users := []store.User{
		{Name: "carol", Role: store.RoleViewer, PasswordHash: []byte("$2a$10$c"), CreatedAt: base},
		{Name: "alice", Role: store.RoleAdmin, PasswordHash: []byte("$2a$10$a"), CreatedAt: base.Add(time.Minute), MustChangePassword: true},
		{Name: "bob", Role: store.RoleAnalyst, PasswordHash: []byte("$2a$10$b"), CreatedAt: base.Add(2 * time.Minute)},
	}
	for _, u := range users {
		must(t, s.CreateUser(ctx, u))
	}
	wantErr(t, s.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleViewer}), store.ErrConflict)
	wantErr(t, s.CreateUser(ctx, store.User{Name: "dave", Role: "root"}), store.ErrInvalid)
	wantErr(t, s.CreateUser(ctx, store.User{Role: store.RoleViewer}), store.ErrInvalid)

	u, err := s.GetUser(ctx, "alice")
	must(t, err)
	if u.Name != "alice" || u.Role != store.RoleAdmin || string(u.PasswordHash) != "$2a$10$a" || !u.CreatedAt.Equal(base.Add(time.Minute)) || !u.MustChangePassword {
		t.Fatalf("alice = %+v", u)
	}
	_, err = s.GetUser(ctx, "dave")
	wantErr(t, err, store.ErrNotFound)
	us, err := s.ListUsers(ctx)
	must(t, err)
	var names []string
	for _, u := range us {
		names = append(names, u.Name)
	}
	if !slices.Equal(names, []string{"alice", "bob", "carol"}) || us[1].Role != store.RoleAnalyst || us[1].MustChangePassword {
		t.Fatalf("users %v: %+v", names, us)
	}

	must(t, s.SetUserPassword(ctx, "alice", []byte("$2a$10$new"), false))
	u, err = s.GetUser(ctx, "alice")
	must(t, err)
	if string(u.PasswordHash) != "$2a$10$new" || u.MustChangePassword || u.Role != store.RoleAdmin {
		t.Fatalf("alice after password change = %+v", u)
	}
	wantErr(t, s.SetUserPassword(ctx, "dave", []byte("$2a$10$x"), false), store.ErrNotFound)
	wantErr(t, s.SetUserPassword(ctx, "alice", nil, false), store.ErrInvalid)
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.CreateUser(ctx, store.User{Name: "alice", Role: store.RoleAnalyst, CreatedAt: base}))
	tk := store.APIToken{ID: "api1", User: "alice", SecretHash: hash("api1"), CreatedAt: base, Note: "SIEM pull"}
	must(t, s.CreateAPIToken(ctx, tk))
	must(t, s.CreateAPIToken(ctx, store.APIToken{ID: "api2", User: "alice", SecretHash: hash("api2"), CreatedAt: base}))
	wantErr(t, s.CreateAPIToken(ctx, store.APIToken{ID: "api1", User: "alice", SecretHash: hash("other"), CreatedAt: base}), store.ErrConflict)
	wantErr(t, s.CreateAPIToken(ctx, store.APIToken{ID: "api3", User: "nobody", SecretHash: hash("api3"), CreatedAt: base}), store.ErrNotFound)

	got, err := s.LookupAPIToken(ctx, hash("api1"))
	must(t, err)
	if got.ID != "api1" || got.User != "alice" || !bytes.Equal(got.SecretHash, tk.SecretHash) || !got.CreatedAt.Equal(base) || got.Revoked || got.Note != "SIEM pull" {
		t.Fatalf("looked up %+v", got)
	}
	_, err = s.LookupAPIToken(ctx, hash("unknown"))
	wantErr(t, err, store.ErrNotFound)

	byID, err := s.GetAPIToken(ctx, "api2")
	must(t, err)
	if byID.User != "alice" || byID.Revoked {
		t.Fatalf("GetAPIToken(api2) = %+v", byID)
	}
	_, err = s.GetAPIToken(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	must(t, s.RevokeAPIToken(ctx, "api1"))
	_, err = s.LookupAPIToken(ctx, hash("api1"))
	wantErr(t, err, store.ErrNotFound)
	if revoked, err := s.GetAPIToken(ctx, "api1"); err != nil || !revoked.Revoked {
		t.Fatalf("GetAPIToken(api1) after revoke = %+v, %v", revoked, err)
	}
	if _, err := s.LookupAPIToken(ctx, hash("api2")); err != nil {
		t.Fatalf("revoking api1 affected api2: %v", err)
	}
	wantErr(t, s.RevokeAPIToken(ctx, "nope"), store.ErrNotFound)
}

func testRoster(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := store.RosterEntry{Owner: "alice", DisplayName: "Alice A.", City: "Lisbon", Country: "PT", Latitude: 38.7223, Longitude: -9.1393,
		TimeZone: "Europe/Lisbon", Devices: []string{"fw-1", "alice-laptop"}}
	bob := store.RosterEntry{Owner: "bob", City: "Austin", Country: "US", Latitude: 30.2672, Longitude: -97.7431, TimeZone: "America/Chicago"}
	must(t, s.ImportRoster(ctx, []store.RosterEntry{bob, alice}))
	check := func(want store.RosterEntry) {
		t.Helper()
		got, err := s.GetRosterEntry(ctx, want.Owner)
		must(t, err)
		if got.Owner != want.Owner || got.DisplayName != want.DisplayName || got.City != want.City || got.Country != want.Country ||
			got.Latitude != want.Latitude || got.Longitude != want.Longitude || got.TimeZone != want.TimeZone || !slices.Equal(got.Devices, want.Devices) {
			t.Fatalf("roster %s = %+v, want %+v", want.Owner, got, want)
		}
	}
	check(alice)
	check(bob)

	// Upsert: alice changes, carol arrives, bob stays.
	alice2 := alice
	alice2.City, alice2.Latitude, alice2.Longitude, alice2.Devices = "Porto", 41.1579, -8.6291, []string{"fw-1"}
	carol := store.RosterEntry{Owner: "carol", Country: "DE"}
	must(t, s.ImportRoster(ctx, []store.RosterEntry{alice2, carol}))
	check(alice2)
	check(bob)
	check(carol)

	// All or nothing: an entry without owner fails the import, after
	// entries before it were written.
	dave := store.RosterEntry{Owner: "dave", Country: "FR"}
	alice3 := alice2
	alice3.City = "Faro"
	err := s.ImportRoster(ctx, []store.RosterEntry{dave, alice3, {DisplayName: "no owner"}})
	wantErr(t, err, store.ErrInvalid)
	_, err = s.GetRosterEntry(ctx, "dave")
	wantErr(t, err, store.ErrNotFound)
	check(alice2)

	es, err := s.ListRoster(ctx)
	must(t, err)
	var owners []string
	for _, e := range es {
		owners = append(owners, e.Owner)
	}
	if !slices.Equal(owners, []string{"alice", "bob", "carol"}) {
		t.Fatalf("roster owners %v", owners)
	}
	must(t, s.ImportRoster(ctx, nil))
}

func testTryLock(t *testing.T, s store.Store) {
	ctx := t.Context()
	release, ok, err := s.TryLock(ctx, "correlate")
	must(t, err)
	if !ok {
		t.Fatal("first TryLock failed")
	}
	if _, ok, err := s.TryLock(ctx, "correlate"); err != nil || ok {
		t.Fatalf("second TryLock of a held lock: ok %v, %v", ok, err)
	}
	other, ok, err := s.TryLock(ctx, "retention")
	must(t, err)
	if !ok {
		t.Fatal("TryLock of another name failed")
	}
	release()
	release() // harmless
	again, ok, err := s.TryLock(ctx, "correlate")
	must(t, err)
	if !ok {
		t.Fatal("TryLock after release failed")
	}
	again()
	other()
}

// PostgresDSN creates an empty database for the test and returns its DSN;
// the database is dropped when the test ends. The server is
// $FARMWATCH_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable),
// whose user must be allowed to create databases. Without a server the
// test is skipped, or fails when $CI is true.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("FARMWATCH_TEST_POSTGRES")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable (%v).", err)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s CI=true requires it: start PostgreSQL or set FARMWATCH_TEST_POSTGRES", msg)
		}
		t.Skipf("%s To run the PostgreSQL tests, start a server that trusts local connections "+
			"(e.g. pg_ctlcluster 15 main start) or set FARMWATCH_TEST_POSTGRES=postgres://user@host:5432/db", msg)
	}
	defer conn.Close(context.Background())

	var b [6]byte
	rand.Read(b[:])
	name := "fwtest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("FARMWATCH_TEST_POSTGRES is not a URL")
	}
	u.Path = "/" + name
	return u.String()
}

func testGeoState(t *testing.T, s store.Store) {
	ctx := t.Context()
	enroll(t, s, "dev-g", "alice")
	enroll(t, s, "dev-h", "bob")
	if _, err := s.GeoState(ctx, "dev-g"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GeoState before any report = %v, want ErrNotFound", err)
	}
	denver := store.GeoFix{IP: "81.2.69.7", Country: "US", City: "Denver", HasCoords: true, Latitude: 39.7392, Longitude: -104.9903,
		AccuracyKM: 20, TimeZone: "America/Denver", ASN: 7922, ASOrg: "Comcast"}
	shenyang := store.GeoFix{IP: "202.196.224.5", Country: "CN", City: "Shenyang", HasCoords: true, Latitude: 41.8057, Longitude: 123.4315,
		AccuracyKM: 50, TimeZone: "Asia/Shanghai", ASN: 4294967295, ASOrg: "CHINA UNICOM"}
	t1, t2, t3 := base.Add(time.Minute), base.Add(2*time.Minute), base.Add(3*time.Minute)

	r := report("dev-g", 2, "scan")
	r.Geo = &store.GeoUpdate{At: t2, Fix: denver, Networks: []string{"gw:a", "bssid:b", "gw:a", ""}, Active: []string{"geo.hosting_asn"}}
	storeReport(t, s, r)
	g, err := s.GeoState(ctx, "dev-g")
	must(t, err)
	if g.DeviceID != "dev-g" || !g.FirstSeen.Equal(t2) || !g.LastSeen.Equal(t2) || g.Last != denver || !slices.Equal(g.Active, []string{"geo.hosting_asn"}) {
		t.Fatalf("after the first report: %+v", g)
	}
	wantSeen(t, "countries", g.Countries, []store.GeoSeen{{Value: "US", FirstSeen: t2, LastSeen: t2, Reports: 1}})
	wantSeen(t, "networks", g.Networks, []store.GeoSeen{{Value: "bssid:b", FirstSeen: t2, LastSeen: t2, Reports: 1}, {Value: "gw:a", FirstSeen: t2, LastSeen: t2, Reports: 1}})

	// A late, older report adds to the history but does not replace the
	// latest fix or rules.
	r = report("dev-g", 1, "heartbeat")
	r.Geo = &store.GeoUpdate{At: t1, Fix: shenyang, Networks: []string{"gw:a"}}
	storeReport(t, s, r)
	g, err = s.GeoState(ctx, "dev-g")
	must(t, err)
	if !g.FirstSeen.Equal(t1) || !g.LastSeen.Equal(t2) || g.Last != denver || len(g.Active) != 1 {
		t.Fatalf("after a late report: %+v", g)
	}
	wantSeen(t, "countries", g.Countries, []store.GeoSeen{{Value: "CN", FirstSeen: t1, LastSeen: t1, Reports: 1}, {Value: "US", FirstSeen: t2, LastSeen: t2, Reports: 1}})
	wantSeen(t, "networks", g.Networks, []store.GeoSeen{{Value: "gw:a", FirstSeen: t1, LastSeen: t2, Reports: 2}, {Value: "bssid:b", FirstSeen: t2, LastSeen: t2, Reports: 1}})

	// The newest report replaces the fix and clears the rules.
	r = report("dev-g", 3, "scan")
	r.Geo = &store.GeoUpdate{At: t3, Fix: shenyang, Networks: []string{"gw:a"}}
	storeReport(t, s, r)
	g, err = s.GeoState(ctx, "dev-g")
	must(t, err)
	if !g.LastSeen.Equal(t3) || g.Last != shenyang || g.Active != nil {
		t.Fatalf("after the newest report: %+v", g)
	}
	wantSeen(t, "countries", g.Countries, []store.GeoSeen{{Value: "CN", FirstSeen: t1, LastSeen: t3, Reports: 2}, {Value: "US", FirstSeen: t2, LastSeen: t2, Reports: 1}})

	// A duplicate seq changes nothing; a report without Geo neither.
	r.Geo = &store.GeoUpdate{At: t3.Add(time.Hour), Fix: denver, Networks: []string{"gw:z"}}
	dup, err := s.StoreReport(ctx, r)
	must(t, err)
	r = report("dev-g", 4, "scan")
	storeReport(t, s, r)
	again, err := s.GeoState(ctx, "dev-g")
	must(t, err)
	if !dup || !again.LastSeen.Equal(t3) || again.Last != shenyang || len(again.Networks) != 2 || again.Countries[0].Reports != 2 {
		t.Fatalf("duplicate %v; state %+v", dup, again)
	}

	// Histories are per device; a fix without country adds no country.
	r = report("dev-h", 1, "scan")
	r.Geo = &store.GeoUpdate{At: t1, Fix: store.GeoFix{IP: "10.0.0.1"}}
	storeReport(t, s, r)
	h, err := s.GeoState(ctx, "dev-h")
	must(t, err)
	if h.Last.IP != "10.0.0.1" || len(h.Countries) != 0 || len(h.Networks) != 0 {
		t.Fatalf("dev-h: %+v", h)
	}
	// The report and its history are one transaction: a report of an
	// unknown device stores neither.
	r = report("dev-nope", 1, "scan")
	r.Geo = &store.GeoUpdate{At: t1, Fix: denver}
	if _, err := s.StoreReport(ctx, r); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("report of an unknown device = %v", err)
	}
	if _, err := s.GeoState(ctx, "dev-nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GeoState of an unknown device = %v", err)
	}
}

func wantSeen(t *testing.T, what string, got, want []store.GeoSeen) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b store.GeoSeen) bool {
		return a.Value == b.Value && a.FirstSeen.Equal(b.FirstSeen) && a.LastSeen.Equal(b.LastSeen) && a.Reports == b.Reports
	}) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

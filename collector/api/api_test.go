package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/store"
)

func TestReadEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d1 := e.addDevice("alice", "LT-0001")
	d2 := e.addDevice("bob", "LT-0002")
	e.addReport(d1, 1, 1)
	e.addReport(d1, 2, 3)
	a := e.addAlert("farm:public_ip:203.0.113.7", 3, d1.ID, d2.ID)
	if err := e.st.ImportRoster(e.ctx, []store.RosterEntry{
		{Owner: "alice", DisplayName: "Alice A", City: "Lyon", Country: "FR", Latitude: 45.76, Longitude: 4.83, TimeZone: "Europe/Paris", Devices: []string{"LT-0001"}},
		{Owner: "bob", City: "Austin", Country: "US"},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("devices", func(t *testing.T) {
		r := e.as(store.RoleViewer, "GET", "/devices", nil)
		want(t, r, 200)
		var p Page[Device]
		r.decode(t, &p)
		if len(p.Items) != 2 || p.Next != "" {
			t.Fatalf("got %s", r)
		}
		r = e.as(store.RoleViewer, "GET", "/devices?owner=alice&revoked=false", nil)
		want(t, r, 200)
		r.decode(t, &p)
		if len(p.Items) != 1 || p.Items[0].ID != d1.ID {
			t.Fatalf("owner filter: %s", r)
		}
		// bob never reported, and enrolled an hour ago.
		r = e.as(store.RoleViewer, "GET", "/devices?silent_since=30m", nil)
		want(t, r, 200)
		r.decode(t, &p)
		if !slices.ContainsFunc(p.Items, func(d Device) bool { return d.ID == d2.ID }) {
			t.Fatalf("silent_since: %s", r)
		}
	})
	t.Run("device", func(t *testing.T) {
		r := e.as(store.RoleViewer, "GET", "/devices/"+d1.ID, nil)
		want(t, r, 200)
		var d Device
		r.decode(t, &d)
		if d.Owner != "alice" || d.Hostname != "LT-0001" || d.LastSeq != 2 || d.MaxSeverity == nil || *d.MaxSeverity != "high" ||
			d.AgentVersion != "1.2.3" || d.PublicIP != "203.0.113.7" || d.LastSeen == nil || string(d.Health) == "null" {
			t.Fatalf("got %s", r)
		}
		// A device that never reported: nulls, not zero times.
		r = e.as(store.RoleViewer, "GET", "/devices/"+d2.ID, nil)
		want(t, r, 200)
		var raw map[string]any
		r.decode(t, &raw)
		for _, k := range []string{"last_seen", "max_severity", "health", "revoked_at"} {
			if raw[k] != nil {
				t.Errorf("%s = %v, want null", k, raw[k])
			}
		}
		r = e.as(store.RoleViewer, "GET", "/devices/fw-00000000000000000000000000000000", nil)
		want(t, r, 404)
		if _, reason := r.apiErr(t); reason != "not_found" {
			t.Errorf("reason %q", reason)
		}
	})
	t.Run("reports", func(t *testing.T) {
		r := e.as(store.RoleViewer, "GET", "/devices/"+d1.ID+"/reports", nil)
		want(t, r, 200)
		var p Page[Report]
		r.decode(t, &p)
		if len(p.Items) != 2 {
			t.Fatalf("got %s", r)
		}
		var env, wantEnv any
		_ = json.Unmarshal(p.Items[0].Envelope, &env)
		_ = json.Unmarshal([]byte(testEnvelope), &wantEnv)
		if !jsonEqual(env, wantEnv) {
			t.Errorf("envelope %s, want %s", p.Items[0].Envelope, testEnvelope)
		}
		want(t, e.as(store.RoleViewer, "GET", "/devices/fw-00000000000000000000000000000000/reports", nil), 404)
	})
	t.Run("findings", func(t *testing.T) {
		r := e.as(store.RoleViewer, "GET", "/findings?device_id="+d1.ID, nil)
		want(t, r, 200)
		var p Page[Finding]
		r.decode(t, &p)
		if len(p.Items) != 2 {
			t.Fatalf("got %s", r)
		}
		r = e.as(store.RoleViewer, "GET", "/findings?min_severity=high&since=24h", nil)
		want(t, r, 200)
		r.decode(t, &p)
		if len(p.Items) != 1 || p.Items[0].Severity != "high" || p.Items[0].Rule != "kvm.pikvm_usb_identity" || len(p.Items[0].Finding) == 0 {
			t.Fatalf("min_severity: %s", r)
		}
	})
	t.Run("alerts", func(t *testing.T) {
		r := e.as(store.RoleViewer, "GET", "/alerts?status=new,acknowledged&min_severity=medium&kind=farm_public_ip&device_id="+d2.ID, nil)
		want(t, r, 200)
		var p Page[Alert]
		r.decode(t, &p)
		if len(p.Items) != 1 || p.Items[0].ID != a.ID {
			t.Fatalf("got %s", r)
		}
		r = e.as(store.RoleViewer, "GET", "/alerts?status=resolved&status=suppressed", nil)
		want(t, r, 200)
		r.decode(t, &p)
		if len(p.Items) != 0 {
			t.Fatalf("status filter: %s", r)
		}
		r = e.as(store.RoleViewer, "GET", "/alerts/"+itoa(a.ID), nil)
		want(t, r, 200)
		var got Alert
		r.decode(t, &got)
		if got.Severity != "high" || got.Status != "new" || len(got.Members) != 2 || string(got.Evidence) == "null" || got.SuppressedUntil != nil {
			t.Fatalf("got %s", r)
		}
		want(t, e.as(store.RoleViewer, "GET", "/alerts/999999", nil), 404)
		want(t, e.as(store.RoleViewer, "GET", "/alerts/abc", nil), 400)
	})
	t.Run("roster", func(t *testing.T) {
		r := e.as(store.RoleViewer, "GET", "/roster", nil)
		want(t, r, 200)
		var p Page[RosterEntry]
		r.decode(t, &p)
		if len(p.Items) != 2 || p.Items[0].Owner != "alice" || p.Items[0].City != "Lyon" || p.Items[1].Devices == nil {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("audit", func(t *testing.T) {
		if err := e.st.AddAudit(e.ctx, store.AuditEntry{At: e.now, Actor: "admin", Action: "test.thing", Target: "x:1"}); err != nil {
			t.Fatal(err)
		}
		r := e.as(store.RoleAdmin, "GET", "/audit", nil)
		want(t, r, 200)
		var p Page[AuditEntry]
		r.decode(t, &p)
		if !slices.ContainsFunc(p.Items, func(a AuditEntry) bool { return a.Action == "test.thing" && a.Actor == "admin" }) {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("me", func(t *testing.T) {
		r := e.as(store.RoleAnalyst, "GET", "/me", nil)
		want(t, r, 200)
		var m Me
		r.decode(t, &m)
		if m.Name != "analyst" || m.Role != "analyst" || m.Auth != "token" || m.TokenID == "" || m.Collector != "test-collector" {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("users", func(t *testing.T) {
		r := e.as(store.RoleAdmin, "GET", "/users", nil)
		want(t, r, 200)
		if strings.Contains(string(r.body), "password_hash") || strings.Contains(string(r.body), "PasswordHash") {
			t.Fatalf("users listing shows a hash: %s", r)
		}
		var p Page[User]
		r.decode(t, &p)
		if len(p.Items) != 3 || p.Items[0].Name != "admin" {
			t.Fatalf("got %s", r)
		}
	})
	t.Run("enroll-tokens", func(t *testing.T) {
		want(t, e.as(store.RoleAdmin, "POST", "/enroll-tokens", map[string]any{"note": "listing"}), 201)
		r := e.as(store.RoleAdmin, "GET", "/enroll-tokens", nil)
		want(t, r, 200)
		var p Page[EnrollToken]
		r.decode(t, &p)
		if len(p.Items) == 0 || strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), auth.EnrollPrefix) {
			t.Fatalf("got %s", r)
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("pat", store.RoleAdmin, "correct horse battery", false)
	enrollTok, _, _, _ := auth.NewSecret(auth.EnrollPrefix)
	apiLike, _, _, _ := auth.NewSecret(auth.APIPrefix)
	for _, tc := range []struct {
		name   string
		opt    func(*http.Request)
		reason string // auth failure metric
	}{
		{"none", func(*http.Request) {}, "missing"},
		{"unknown token", bearer(apiLike), "bad_token"},
		{"enroll token", bearer(enrollTok), "bad_token"},
		{"garbage bearer", bearer("hunter2"), "bad_token"},
		{"wrong password", basic("pat", "wrong password!"), "bad_password"},
		{"unknown user", basic("nobody", "correct horse battery"), "bad_password"},
		{"other scheme", header("Authorization", "Digest username=pat"), "bad_scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.req("GET", "/devices", nil, tc.opt)
			want(t, r, 401)
			if _, reason := r.apiErr(t); reason != "unauthenticated" {
				t.Errorf("reason %q", reason)
			}
			ch := r.Header.Values("WWW-Authenticate")
			if len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer ") || !strings.HasPrefix(ch[1], "Basic ") {
				t.Errorf("WWW-Authenticate %q", ch)
			}
			if got := testutil.ToFloat64(e.metrics.AuthFailures.WithLabelValues(tc.reason)); got < 1 {
				t.Errorf("auth failure %s not counted", tc.reason)
			}
		})
	}
	// Failed logins are logged with the address, never with the secret.
	fails := e.logs.FilterMessage("api login failed").All()
	if len(fails) != 6 {
		t.Fatalf("%d failed logins logged, want 6", len(fails))
	}
	for _, l := range fails {
		m := l.ContextMap()
		if m["ip"] == "" || m["reason"] == "" {
			t.Errorf("log %v lacks ip or reason", m)
		}
		if strings.Contains(l.Message+toString(m), "wrong password!") {
			t.Errorf("log shows the password: %v", m)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("pat", store.RoleAnalyst, "correct horse battery", false)
	r := e.req("GET", "/me", nil, basic("pat", "correct horse battery"))
	want(t, r, 200)
	var m Me
	r.decode(t, &m)
	if m.Name != "pat" || m.Auth != "password" || m.TokenID != "" {
		t.Fatalf("got %s", r)
	}
	// A role check applies to password users too.
	want(t, e.req("GET", "/users", nil, basic("pat", "correct horse battery")), 403)
}

func TestMustChangePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addUser("newbie", store.RoleAdmin, "one-time-password", true)
	as := basic("newbie", "one-time-password")
	for _, p := range []string{"/me", "/devices", "/users"} {
		r := e.req("GET", p, nil, as)
		want(t, r, 403)
		if _, reason := r.apiErr(t); reason != "password_change_required" {
			t.Errorf("%s: reason %q", p, reason)
		}
	}
	want(t, e.req("POST", "/api-tokens", map[string]string{}, as), 403)
	// An API token of the same user is a credential of its own.
	want(t, e.req("GET", "/me", nil, bearer(e.addToken("newbie"))), 200)
	// The password change itself is let through to its handler: a wrong
	// current password is refused there, not by the confinement.
	r := e.req("POST", "/me/password", map[string]string{"current_password": "not it at all", "new_password": "a much better password"}, as)
	want(t, r, 403)
	if _, reason := r.apiErr(t); reason != "wrong_password" {
		t.Errorf("reason %q", reason)
	}
	r = e.req("POST", "/me/password", map[string]string{"current_password": "one-time-password", "new_password": "short"}, as)
	want(t, r, 400)
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	change := map[string]string{"current_password": "one-time-password", "new_password": "a much better password"}
	e := newEnv(t)
	e.addUser("newbie", store.RoleViewer, "one-time-password", true)
	r := e.req("POST", "/me/password", change, basic("newbie", "one-time-password"))
	want(t, r, 204)
	want(t, e.req("GET", "/me", nil, basic("newbie", "one-time-password")), 401)
	r = e.req("GET", "/me", nil, basic("newbie", "a much better password"))
	want(t, r, 200)
	var m Me
	r.decode(t, &m)
	if m.MustChangePassword {
		t.Error("must_change_password still set")
	}
	e.findAudit("newbie", "user.password", "user:newbie")
}

func TestRateLimitFailedLogins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad, _, _, _ := auth.NewSecret(auth.APIPrefix)
	for i := range loginBurst {
		if r := e.req("GET", "/me", nil, bearer(bad)); r.StatusCode != 401 {
			t.Fatalf("attempt %d: %s", i+1, r)
		}
	}
	// The address is out of attempts: even good credentials wait.
	r := e.as(store.RoleViewer, "GET", "/me", nil)
	want(t, r, 429)
	if _, reason := r.apiErr(t); reason != "too_many_failed_logins" || r.Header.Get("Retry-After") == "" {
		t.Errorf("got %s, Retry-After %q", r, r.Header.Get("Retry-After"))
	}
	if len(e.logs.FilterMessage("api login refused: too many failed logins from this address").All()) == 0 {
		t.Error("refusal not logged")
	}
	// The bucket refills with time.
	e.now = e.now.Add(loginRefill)
	want(t, e.as(store.RoleViewer, "GET", "/me", nil), 200)
}

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newLoginLimiter(func() time.Time { return now })
	for range loginBurst {
		if l.blocked("192.0.2.1") != 0 {
			t.Fatal("blocked too early")
		}
		l.fail("192.0.2.1")
	}
	if w := l.blocked("192.0.2.1"); w != loginRefill {
		t.Fatalf("wait %v, want %v", w, loginRefill)
	}
	if l.blocked("192.0.2.2") != 0 {
		t.Fatal("another address is blocked")
	}
	now = now.Add(loginRefill / 2)
	if w := l.blocked("192.0.2.1"); w != loginRefill/2 {
		t.Fatalf("wait %v after half a refill", w)
	}
	now = now.Add(loginRefill / 2)
	if l.blocked("192.0.2.1") != 0 {
		t.Fatal("still blocked after a refill")
	}
	// Many addresses do not grow the map without bound.
	for i := range loginMaxKeys + 10 {
		l.fail("10.0." + itoa(int64(i/256)) + "." + itoa(int64(i%256)))
	}
	if n := len(l.buckets); n > loginMaxKeys {
		t.Fatalf("%d buckets kept", n)
	}
}

func TestAlertLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.addDevice("alice", "LT-0001")
	a := e.addAlert("farm:gateway:1", 3, d.ID)
	path := "/alerts/" + itoa(a.ID)

	step := func(action string, body any, code int, status string) Alert {
		t.Helper()
		r := e.as(store.RoleAnalyst, "POST", path+"/"+action, body)
		want(t, r, code)
		var got Alert
		if code == 200 {
			r.decode(t, &got)
			if got.Status != status {
				t.Fatalf("%s: status %s, want %s", action, got.Status, status)
			}
		}
		return got
	}
	step("ack", nil, 200, "acknowledged")
	e.findAudit("analyst", "alert.ack", "alert:"+itoa(a.ID))

	// Acknowledging twice is not a transition the lifecycle has.
	r := e.as(store.RoleAnalyst, "POST", path+"/ack", nil)
	want(t, r, 409)
	if msg, reason := r.apiErr(t); reason != "invalid_transition" || !strings.Contains(msg, "acknowledged") {
		t.Errorf("got %q %q", msg, reason)
	}
	want(t, e.as(store.RoleAnalyst, "POST", path+"/unsuppress", nil), 409)

	until := e.now.Add(7 * 24 * time.Hour).Format(time.RFC3339)
	got := step("suppress", map[string]string{"reason": "IT lab", "until": until}, 200, "suppressed")
	if got.SuppressedUntil == nil || got.SuppressedUntil.Format(time.RFC3339) != until || got.StatusReason != "IT lab" {
		t.Errorf("suppressed alert %+v", got)
	}
	if a := e.findAudit("analyst", "alert.suppress", "alert:"+itoa(a.ID)); !strings.Contains(a.Detail, "IT lab") {
		t.Errorf("suppress audit detail %q", a.Detail)
	}
	want(t, e.as(store.RoleAnalyst, "POST", path+"/resolve", nil), 409)
	step("unsuppress", map[string]string{}, 200, "new")
	e.findAudit("analyst", "alert.unsuppress", "alert:"+itoa(a.ID))
	step("resolve", map[string]string{"reason": "owner confirmed"}, 200, "resolved")
	e.findAudit("analyst", "alert.resolve", "alert:"+itoa(a.ID))
	want(t, e.as(store.RoleAnalyst, "POST", path+"/suppress", map[string]string{"reason": "x", "until": until}), 409)
	want(t, e.as(store.RoleAnalyst, "POST", path+"/ack", nil), 409)
	want(t, e.as(store.RoleAnalyst, "POST", "/alerts/999999/ack", nil), 404)

	// The admin sees the whole story in the audit log.
	r = e.as(store.RoleAdmin, "GET", "/audit?limit=1000", nil)
	want(t, r, 200)
	var p Page[AuditEntry]
	r.decode(t, &p)
	var actions []string
	for _, x := range p.Items {
		if x.Target == "alert:"+itoa(a.ID) {
			actions = append(actions, x.Action)
		}
	}
	if !slices.Equal(actions, []string{"alert.ack", "alert.suppress", "alert.unsuppress", "alert.resolve"}) &&
		!slices.Equal(actions, []string{"alert.resolve", "alert.unsuppress", "alert.suppress", "alert.ack"}) {
		t.Errorf("audit actions %v", actions)
	}
}

func TestSuppressValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.addDevice("alice", "LT-0001")
	a := e.addAlert("farm:gateway:2", 2, d.ID)
	path := "/alerts/" + itoa(a.ID) + "/suppress"
	future := e.now.Add(24 * time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name string
		body any
		code int
		says string
	}{
		{"no body", nil, 400, "required"},
		{"no reason", map[string]string{"until": future}, 400, "reason"},
		{"blank reason", map[string]string{"reason": "  ", "until": future}, 400, "reason"},
		{"no until", map[string]string{"reason": "lab"}, 400, "until"},
		{"bad until", map[string]string{"reason": "lab", "until": "tomorrow"}, 400, "until"},
		{"past", map[string]string{"reason": "lab", "until": e.now.Add(-time.Minute).Format(time.RFC3339)}, 400, "future"},
		{"now", map[string]string{"reason": "lab", "until": e.now.Format(time.RFC3339)}, 400, "future"},
		{"91 days", map[string]string{"reason": "lab", "until": e.now.Add(91 * 24 * time.Hour).Format(time.RFC3339)}, 400, "90 days"},
		{"unknown field", map[string]string{"reason": "lab", "until": future, "for": "1d"}, 400, "unknown field"},
		{"until a number", map[string]any{"reason": "lab", "until": 5}, 400, "until"},
		{"long reason", map[string]string{"reason": strings.Repeat("x", 1001), "until": future}, 400, "reason"},
		{"90 days", map[string]string{"reason": "lab", "until": e.now.Add(90 * 24 * time.Hour).Format(time.RFC3339)}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.as(store.RoleAnalyst, "POST", path, tc.body)
			want(t, r, tc.code)
			if tc.code != 200 {
				msg, reason := r.apiErr(t)
				if reason != "invalid_body" || !strings.Contains(msg, tc.says) {
					t.Errorf("got %q %q, want it to say %q", msg, reason, tc.says)
				}
			}
		})
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []string
	for i := range 7 {
		ids = append(ids, e.addDevice("owner", "LT-"+itoa(int64(i))).ID)
	}
	var roster []store.RosterEntry
	for i := range 5 {
		roster = append(roster, store.RosterEntry{Owner: "owner-" + itoa(int64(i))})
	}
	if err := e.st.ImportRoster(e.ctx, roster); err != nil {
		t.Fatal(err)
	}

	// walk pages through path with limit 3 and returns the pages' sizes
	// and every item's key.
	walk := func(path string, key func(json.RawMessage) string) (sizes []int, keys []string) {
		after := ""
		for range 20 {
			q := url.Values{"limit": {"3"}}
			if after != "" {
				q.Set("after", after)
			}
			r := e.as(store.RoleAdmin, "GET", path+"?"+q.Encode(), nil)
			want(t, r, 200)
			var p Page[json.RawMessage]
			r.decode(t, &p)
			sizes = append(sizes, len(p.Items))
			for _, it := range p.Items {
				keys = append(keys, key(it))
			}
			if p.Next == "" {
				return sizes, keys
			}
			after = p.Next
		}
		t.Fatalf("%s: no end after 20 pages", path)
		return nil, nil
	}
	field := func(name string) func(json.RawMessage) string {
		return func(m json.RawMessage) string {
			var v map[string]any
			_ = json.Unmarshal(m, &v)
			s, _ := v[name].(string)
			return s
		}
	}

	sizes, keys := walk("/devices", field("id"))
	slices.Sort(keys)
	slices.Sort(ids)
	if len(sizes) < 3 || sizes[0] != 3 || sizes[1] != 3 || !slices.Equal(keys, ids) {
		t.Errorf("devices: pages %v, keys %v, want %v", sizes, keys, ids)
	}
	sizes, keys = walk("/roster", field("owner"))
	if !slices.Equal(sizes, []int{3, 2}) || !slices.Equal(keys, []string{"owner-0", "owner-1", "owner-2", "owner-3", "owner-4"}) {
		t.Errorf("roster: pages %v, keys %v", sizes, keys)
	}
	for i := range 3 {
		e.addUser("user-"+itoa(int64(i)), store.RoleViewer, "", false)
	}
	sizes, keys = walk("/users", field("name"))
	if !slices.Equal(sizes, []int{3, 3}) || !slices.IsSorted(keys) || len(keys) != 6 {
		t.Errorf("users: pages %v, keys %v", sizes, keys)
	}
	want(t, e.as(store.RoleAdmin, "GET", "/roster?after=%21%21", nil), 400)
}

func TestBadQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct{ path, param string }{
		{"/devices?limit=0", "limit"},
		{"/devices?limit=1001", "limit"},
		{"/devices?limit=ten", "limit"},
		{"/devices?revoked=maybe", "revoked"},
		{"/devices?silent_since=yesterday", "silent_since"},
		{"/devices?owner=a&owner=b", "owner"},
		{"/devices?ownr=alice", "ownr"},
		{"/findings?min_severity=urgent", "min_severity"},
		{"/findings?since=-3h", "since"},
		{"/alerts?status=open,closed", "status"},
		{"/alerts?min_severity=9", "min_severity"},
		{"/me?verbose=1", "verbose"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.as(store.RoleViewer, "GET", tc.path, nil)
			want(t, r, 400)
			msg, reason := r.apiErr(t)
			if reason != "invalid_parameter" || !strings.Contains(msg, tc.param) {
				t.Errorf("got %q %q, want it to name %s", msg, reason, tc.param)
			}
		})
	}
	// Valid spellings.
	for _, p := range []string{"/alerts?status=open", "/findings?since=2026-01-02T03:04:05Z", "/devices?silent_since=7d&revoked=1"} {
		want(t, e.as(store.RoleViewer, "GET", p, nil), 200)
	}
}

func TestBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.as(store.RoleAdmin, "POST", "/users", `{"name":"x","role":"viewer","admin":true}`)
	want(t, r, 400)
	if msg, _ := r.apiErr(t); !strings.Contains(msg, `unknown field "admin"`) {
		t.Errorf("got %s", r)
	}
	r = e.as(store.RoleAdmin, "POST", "/users", `{"name":"x","role":"viewer"} {}`)
	want(t, r, 400)
	r = e.as(store.RoleAdmin, "POST", "/users", `{"name":"x","role":"viewer"`)
	want(t, r, 400)
	r = e.as(store.RoleAdmin, "POST", "/users", `{"name":5,"role":"viewer"}`)
	want(t, r, 400)
	if msg, _ := r.apiErr(t); !strings.Contains(msg, "name") {
		t.Errorf("got %s", r)
	}
	r = e.as(store.RoleAdmin, "POST", "/users", `{"name":"x","role":"viewer","pad":"`+strings.Repeat("a", maxBody)+`"}`)
	want(t, r, 413)
	if _, reason := r.apiErr(t); reason != "body_too_large" {
		t.Errorf("got %s", r)
	}
	r = e.as(store.RoleAdmin, "POST", "/users", `name=x&role=viewer`, header("Content-Type", "application/x-www-form-urlencoded"))
	want(t, r, 415)
	r = e.as(store.RoleAdmin, "POST", "/users", `{"name":"bad name","role":"viewer"}`)
	want(t, r, 400)
	r = e.as(store.RoleAdmin, "POST", "/users", `{"name":"x","role":"root"}`)
	want(t, r, 400)
	r = e.as(store.RoleAdmin, "POST", "/enroll-tokens", map[string]any{"expires_in": "forever"})
	want(t, r, 400)
	r = e.as(store.RoleAdmin, "POST", "/enroll-tokens", map[string]any{"max_uses": 0})
	want(t, r, 400)
	want(t, e.as(store.RoleAdmin, "POST", "/devices/fw-00000000000000000000000000000000/revoke", map[string]string{}), 400)
	want(t, e.as(store.RoleAdmin, "POST", "/devices/fw-00000000000000000000000000000000/revoke", map[string]string{"reason": "gone"}), 404)
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.as(store.RoleViewer, "GET", "/nothing-here", nil)
	want(t, r, 404)
	if _, reason := r.apiErr(t); reason != "no_such_route" {
		t.Errorf("got %s", r)
	}
	r = e.as(store.RoleAdmin, "DELETE", "/devices", nil)
	want(t, r, 405)
	if r.Header.Get("Allow") != "GET" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
	r = e.as(store.RoleAdmin, "PUT", "/enroll-tokens/abc", nil)
	want(t, r, 405)
	if r.Header.Get("Allow") != "DELETE" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
	// A browser's cross-site state change is refused before anything else.
	r = e.as(store.RoleAdmin, "POST", "/users", map[string]string{"name": "csrf", "role": "admin"}, header("Sec-Fetch-Site", "cross-site"))
	want(t, r, 403)
	if _, reason := r.apiErr(t); reason != "cross_origin" {
		t.Errorf("got %s", r)
	}
	if _, err := e.st.GetUser(e.ctx, "csrf"); err == nil {
		t.Error("cross-site request created a user")
	}
}

func TestEnrollTokenUsable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.as(store.RoleAdmin, "POST", "/enroll-tokens", nil)
	want(t, r, 201)
	var nt NewEnrollToken
	r.decode(t, &nt)
	if !strings.HasPrefix(nt.Token, auth.EnrollPrefix) || nt.MaxUses != 1 || nt.CreatedBy != "admin" ||
		nt.ExpiresAt == nil || !nt.ExpiresAt.Equal(e.now.Add(24*time.Hour)) {
		t.Fatalf("defaults: %s", r)
	}
	if id, _ := auth.TokenID(nt.Token); id != nt.ID {
		t.Errorf("token %s has id %s, answer says %s", nt.Token, id, nt.ID)
	}
	got, err := e.st.UseToken(e.ctx, auth.HashSecret(nt.Token), e.now)
	if err != nil || got.ID != nt.ID {
		t.Fatalf("UseToken: %v %+v", err, got)
	}
	if _, err := e.st.UseToken(e.ctx, auth.HashSecret(nt.Token), e.now); err == nil {
		t.Fatal("a one-use token was used twice")
	}
	e.findAudit("admin", "token.create", "token:"+nt.ID)

	r = e.as(store.RoleAdmin, "POST", "/enroll-tokens", map[string]any{"expires_in": "7d", "max_uses": 50, "owner": "alice", "note": "batch 3"})
	want(t, r, 201)
	r.decode(t, &nt)
	if nt.MaxUses != 50 || nt.Owner != "alice" || nt.Note != "batch 3" || !nt.ExpiresAt.Equal(e.now.Add(7*24*time.Hour)) {
		t.Fatalf("got %s", r)
	}
	want(t, e.as(store.RoleAdmin, "DELETE", "/enroll-tokens/"+nt.ID, nil), 204)
	e.findAudit("admin", "token.revoke", "token:"+nt.ID)
	if _, err := e.st.UseToken(e.ctx, auth.HashSecret(nt.Token), e.now); err == nil {
		t.Fatal("a revoked token was accepted")
	}
	want(t, e.as(store.RoleAdmin, "DELETE", "/enroll-tokens/"+nt.ID, nil), 204)
	want(t, e.as(store.RoleAdmin, "DELETE", "/enroll-tokens/nosuchtokn", nil), 404)
}

func TestUsersAndTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.as(store.RoleAdmin, "POST", "/users", map[string]string{"name": "carol", "role": "analyst"})
	want(t, r, 201)
	var nu NewUser
	r.decode(t, &nu)
	if nu.Name != "carol" || nu.Role != "analyst" || !nu.MustChangePassword || len(nu.Password) < 12 {
		t.Fatalf("got %s", r)
	}
	e.findAudit("admin", "user.add", "user:carol")
	want(t, e.as(store.RoleAdmin, "POST", "/users", map[string]string{"name": "carol", "role": "viewer"}), 409)
	// The one-time password works, for the password change only.
	want(t, e.req("GET", "/me", nil, basic("carol", nu.Password)), 403)

	// Tokens for oneself, and by an admin for others.
	r = e.as(store.RoleViewer, "POST", "/api-tokens", map[string]string{"note": "laptop"})
	want(t, r, 201)
	var nt NewAPIToken
	r.decode(t, &nt)
	if nt.User != "viewer" || !strings.HasPrefix(nt.Token, auth.APIPrefix) || nt.Note != "laptop" {
		t.Fatalf("got %s", r)
	}
	e.findAudit("viewer", "api_token.create", "api_token:"+nt.ID)
	r = e.req("GET", "/me", nil, bearer(nt.Token))
	want(t, r, 200)
	want(t, e.as(store.RoleViewer, "POST", "/api-tokens", map[string]string{"user": "analyst"}), 403)
	r = e.as(store.RoleAdmin, "POST", "/api-tokens", map[string]string{"user": "analyst"})
	want(t, r, 201)
	var forAnalyst NewAPIToken
	r.decode(t, &forAnalyst)
	if forAnalyst.User != "analyst" {
		t.Fatalf("got %s", r)
	}
	want(t, e.as(store.RoleAdmin, "POST", "/api-tokens", map[string]string{"user": "nobody"}), 404)

	// A viewer cannot revoke someone else's token; it can revoke its own.
	r = e.as(store.RoleViewer, "DELETE", "/api-tokens/"+forAnalyst.ID, nil)
	if r.StatusCode != 403 && r.StatusCode != 404 {
		t.Fatalf("viewer revoking another's token: %s", r)
	}
	want(t, e.req("GET", "/me", nil, bearer(forAnalyst.Token)), 200)
	want(t, e.req("DELETE", "/api-tokens/"+nt.ID, nil, bearer(nt.Token)), 204)
	e.findAudit("viewer", "api_token.revoke", "api_token:"+nt.ID)
	want(t, e.req("GET", "/me", nil, bearer(nt.Token)), 401)
	want(t, e.as(store.RoleAdmin, "DELETE", "/api-tokens/"+forAnalyst.ID, nil), 204)
	want(t, e.req("GET", "/me", nil, bearer(forAnalyst.Token)), 401)
}

func TestRevokeDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.addDevice("alice", "LT-0001")
	r := e.as(store.RoleAdmin, "POST", "/devices/"+d.ID+"/revoke", map[string]string{"reason": "stolen"})
	want(t, r, 200)
	var got Device
	r.decode(t, &got)
	if !got.Revoked || got.RevokeReason != "stolen" || got.RevokedAt == nil {
		t.Fatalf("got %s", r)
	}
	if a := e.findAudit("admin", "device.revoke", "device:"+d.ID); a.Detail != "stolen" {
		t.Errorf("audit detail %q", a.Detail)
	}
	r = e.as(store.RoleAdmin, "POST", "/devices/"+d.ID+"/revoke", map[string]string{"reason": "again"})
	want(t, r, 409)
	r = e.as(store.RoleViewer, "GET", "/devices?revoked=true", nil)
	want(t, r, 200)
	var p Page[Device]
	r.decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].ID != d.ID {
		t.Fatalf("got %s", r)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want(t, e.as(store.RoleViewer, "GET", "/devices", nil), 200)
	want(t, e.as(store.RoleViewer, "GET", "/users", nil), 403)
	want(t, e.req("GET", "/nope", nil), 404)
	for _, c := range []struct {
		route, code string
	}{
		{"GET /api/v1/devices", "200"},
		{"GET /api/v1/users", "403"},
		{"unmatched", "404"},
	} {
		if got := testutil.ToFloat64(e.metrics.Requests.WithLabelValues(c.route, c.code)); got != 1 {
			t.Errorf("requests{%s,%s} = %v", c.route, c.code, got)
		}
	}
	if got := testutil.ToFloat64(e.metrics.AuthFailures.WithLabelValues("forbidden")); got != 1 {
		t.Errorf("auth failures{forbidden} = %v", got)
	}
	// A second API on the same registry shares the collectors.
	if m := NewMetrics(e.reg); m.Requests != e.metrics.Requests {
		t.Error("collectors not shared")
	}
	// No metrics, no trouble.
	var m *Metrics
	m.request("x", 200, 0)
	m.authFailure("x")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func toString(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

func TestHandlerWithoutPeerMayReadButNotAct(t *testing.T) {
	t.Parallel()
	src := &fakeSource{facts: sampleFacts(finding(detectors.SeverityHigh, "kvm", "PiKVM USB gadget"))}
	h := (&Server{Source: src, Now: func() time.Time { return fixedNow }}).Handler()
	cases := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"GET", PathStatus, "", 200, `"level": "alert"`},
		{"GET", PathScan, "", 200, `"title": "PiKVM USB gadget"`},
		{"GET", PathConnection, "", 200, `"state": "connected"`},
		{"GET", PathQueue, "", 200, `"depth": 0`},
		{"GET", PathCollected, "", 200, `"privacy"`},
		{"POST", PathCheck, "", 403, `"reason": "forbidden"`},
		{"GET", PathCheck, "", 405, `use POST`},
		{"POST", PathStatus, "", 405, `use GET`},
		{"GET", "/v2/status", "", 404, `"reason": "not_found"`},
		{"GET", PathStatus, strings.Repeat("x", maxRequestBody+1), 413, "request body over"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
			if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.contains) {
				t.Errorf("%d %s, want %d with %q", rec.Code, rec.Body, c.code, c.contains)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			for _, secret := range []string{"/secret/path", `"evidence"`} {
				if strings.Contains(rec.Body.String(), secret) {
					t.Errorf("answer exposes %q", secret)
				}
			}
		})
	}
	if r := src.requested(); len(r) != 0 {
		t.Errorf("a caller without identity triggered checks: %v", r)
	}
}

func TestCheckNowForAdminPeer(t *testing.T) {
	t.Parallel()
	src := &fakeSource{facts: sampleFacts()}
	h := (&Server{Source: src}).Handler()
	req := httptest.NewRequest("POST", PathCheck, nil)
	req = req.WithContext(context.WithValue(req.Context(), peerKey{}, Peer{UID: 0, PID: 42, Admin: true, Via: "unix socket"}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if r := src.requested(); len(r) != 1 || r[0] != "local API (uid 0, pid 42)" {
		t.Errorf("requests %v", r)
	}
}

// TestCheckNowNeedsEnrollment: an administrator of a device that is not
// enrolled is told so (409) and offered no "Check now".
func TestCheckNowNeedsEnrollment(t *testing.T) {
	t.Parallel()
	facts := sampleFacts()
	facts.Enrolled, facts.NotEnrolled = false, "this device is not enrolled"
	src := &fakeSource{facts: facts}
	h := (&Server{Source: src}).Handler()
	admin := func(req *http.Request) *http.Request {
		return req.WithContext(context.WithValue(req.Context(), peerKey{}, Peer{UID: 0, PID: 42, Admin: true, Via: "unix socket"}))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, admin(httptest.NewRequest("POST", PathCheck, nil)))
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "not_enrolled") {
		t.Errorf("check now: %d %s", rec.Code, rec.Body)
	}
	if r := src.requested(); len(r) != 0 {
		t.Errorf("requests %v", r)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, admin(httptest.NewRequest("GET", PathStatus, nil)))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.CanCheckNow {
		t.Errorf("status %d: can check now %v (%v)", rec.Code, st.CanCheckNow, err)
	}
}

// TestServeAndCall runs the real server and client over a socket (a pipe
// on Windows): this process may check now exactly when it is an
// administrator, and the status says so.
func TestServeAndCall(t *testing.T) {
	t.Parallel()
	if underWine() {
		t.Skip("Wine 8 does not complete go-winio's overlapped pipe I/O; TestPipesServeAndClose covers what runs there")
	}
	src := &fakeSource{facts: sampleFacts()}
	ep := testEndpoint(t)
	startServer(t, src, ep, nil)
	c := NewClient(ep)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Level != LevelOK || !st.Running || st.DeviceID != "fw-0123456789abcdef0123456789abcdef" || !st.LastCheck.Equal(fixedNow.Add(-3*time.Minute)) {
		t.Errorf("status %+v", st)
	}
	if runtime.GOOS != "windows" && st.CanCheckNow != (os.Geteuid() == 0) {
		t.Errorf("can_check_now %v as uid %d", st.CanCheckNow, os.Geteuid())
	}
	err = c.CheckNow(ctx)
	switch {
	case st.CanCheckNow && err != nil:
		t.Errorf("CheckNow by an administrator: %v", err)
	case !st.CanCheckNow && !errors.Is(err, ErrForbidden):
		t.Errorf("CheckNow by a non-administrator: %v, want ErrForbidden", err)
	}
	if want := 0; st.CanCheckNow {
		want = 1
		if r := src.requested(); len(r) != want {
			t.Errorf("requests %v", r)
		}
	}
	scan, err := c.LastScan(ctx)
	if err != nil || len(scan.Detectors) != 2 || scan.Findings == nil {
		t.Errorf("last scan %+v %v", scan, err)
	}
	conn, err := c.Connection(ctx)
	if err != nil || conn.State != ConnConnected || conn.Server != "https://collector.example:8443" {
		t.Errorf("connection %+v %v", conn, err)
	}
	col, err := c.Collected(ctx)
	if err != nil || len(col.Detectors) != 2 || len(col.Privacy) == 0 {
		t.Errorf("collected %+v %v", col, err)
	}
	raw, _ := json.Marshal(st)
	if strings.Contains(string(raw), "secret") {
		t.Errorf("status exposes evidence: %s", raw)
	}
}

func TestClientNotRunning(t *testing.T) {
	t.Parallel()
	c := NewClient(testEndpoint(t))
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Status with nothing listening: %v, want ErrNotRunning", err)
	}
	if err := c.CheckNow(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("CheckNow with nothing listening: %v, want ErrNotRunning", err)
	}
}

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		goos, ep string
		ok       bool
	}{
		{"linux", DefaultEndpoint("linux"), true},
		{"darwin", DefaultEndpoint("darwin"), true},
		{"windows", DefaultEndpoint("windows"), true},
		{"linux", "run/farmwatch.sock", false},
		{"linux", "/run/../farmwatch.sock", false},
		{"linux", "/" + strings.Repeat("x", 120), false},
		{"windows", `C:\farmwatch.sock`, false},
		{"windows", `\\.\pipe\`, false},
		{"windows", `\\.\pipe\a\b`, false},
	} {
		if err := CheckEndpoint(c.goos, c.ep); (err == nil) != c.ok {
			t.Errorf("CheckEndpoint(%s, %q) = %v", c.goos, c.ep, err)
		}
	}
}

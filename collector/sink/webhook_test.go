package sink

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

var testSecret = []byte("test-webhook-secret-0123456789")

// receiver is a webhook receiver that verifies every request with
// VerifyWebhook and answers with the status codes given, in turn (200
// once they run out).
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	errs   []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	err := VerifyWebhook(testSecret, r.Header.Get(HeaderTimestamp), body, r.Header.Get(HeaderSignature), time.Now(), 5*time.Minute)
	if err == nil && r.Header.Get("Content-Type") != "application/json" {
		err = errors.New("content type " + r.Header.Get("Content-Type"))
	}
	if err == nil && r.Method != http.MethodPost {
		err = errors.New("method " + r.Method)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bodies = append(rc.bodies, body)
	rc.errs = append(rc.errs, err)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	code := http.StatusOK
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	if code >= 300 && code < 400 {
		w.Header().Set("Location", "https://elsewhere.example/")
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, "status "+strconv.Itoa(code))
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

func newReceiver(t *testing.T, codes ...int) (*receiver, *httptest.Server) {
	rc := &receiver{t: t, codes: codes}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func newTestWebhook(t *testing.T, url string) Sink {
	s, err := New(Config{Name: "soc", Type: TypeWebhook, URL: url, Secret: string(testSecret), Timeout: 5 * time.Second}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestWebhookDeliverSignedDocument(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t)
	s := newTestWebhook(t, srv.URL+"/hook")
	if err := s.Deliver(context.Background(), sampleEvent()); err != nil {
		t.Fatal(err)
	}
	if rc.requests() != 1 || rc.errs[0] != nil {
		t.Fatalf("%d requests, verification: %v", rc.requests(), rc.errs)
	}
	var doc map[string]any
	if err := json.Unmarshal(rc.bodies[0], &doc); err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"farmwatch.alert/v1","event":"created","collector":"farmwatch-eu","alert":{"id":42,` +
		`"key":"farm:public_ip:203.0.113.7","kind":"farm","severity":"high","status":"new",` +
		`"title":"3 laptops | 3 owners behind 203.0.113.7 \\ café","summary":"owners=alice,bob,carol\nsee the console",` +
		`"first_seen":"2026-11-20T10:00:00Z","last_seen":"2026-11-20T11:00:00Z","updated_at":"2026-11-20T11:00:00Z","count":2,` +
		`"members":[{"device_id":"dev-a","hostname":"LT\\0042","owner":"alice@example.com","os":"windows","arch":"amd64","public_ip":"203.0.113.7"},` +
		`{"device_id":"dev-b","hostname":"MBP-Bob","owner":"bob@example.com","os":"darwin","arch":"arm64","last_seen":"2026-11-20T11:00:00Z"},` +
		`{"device_id":"dev-c"}],` +
		`"evidence":{"public_ip":"203.0.113.7","devices":3,"note":"a]b\"c"}},` +
		`"links":{"console":"https://farmwatch.example/alerts/42"}}`
	if got := string(rc.bodies[0]); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestWebhookStatusCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code      int
		ok        bool
		permanent bool
	}{
		{200, true, false}, {202, true, false}, {204, true, false},
		{400, false, true}, {401, false, true}, {403, false, true}, {404, false, true}, {410, false, true}, {422, false, true},
		{408, false, false}, {429, false, false},
		{500, false, false}, {502, false, false}, {503, false, false},
		{302, false, false}, // redirects are not followed
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			rc, srv := newReceiver(t, tc.code)
			err := newTestWebhook(t, srv.URL).Deliver(context.Background(), sampleEvent())
			if (err == nil) != tc.ok || errors.Is(err, ErrPermanent) != tc.permanent {
				t.Errorf("status %d: error %v (permanent %v), want ok %v permanent %v", tc.code, err, errors.Is(err, ErrPermanent), tc.ok, tc.permanent)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tc.code)) {
				t.Errorf("error %q does not name the status", err)
			}
			if rc.requests() != 1 {
				t.Errorf("%d requests", rc.requests())
			}
		})
	}
}

func TestWebhookNetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := newTestWebhook(t, url).Deliver(context.Background(), sampleEvent())
	if err == nil || errors.Is(err, ErrPermanent) {
		t.Errorf("closed port: %v", err)
	}
}

// TestWebhookRetryThenSuccess runs the Dispatcher against a receiver
// that fails with 500 once: the delivery is retried and then completed.
func TestWebhookRetryThenSuccess(t *testing.T) {
	t.Parallel()
	rc, srv := newReceiver(t, http.StatusInternalServerError)
	st := newMemStore(t)
	st.add(t, sampleEvent(), "soc")
	d := &Dispatcher{Store: st, Sinks: []Sink{newTestWebhook(t, srv.URL)}, Log: zaptest.NewLogger(t),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, 10*time.Second, "the delivery to complete", func() bool { return st.pending("soc") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rc.requests() != 2 {
		t.Fatalf("%d requests, want 2 (500 then 200)", rc.requests())
	}
	for i, err := range rc.errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	dl := st.delivery(1)
	if dl.Attempts != 2 || !strings.Contains(dl.LastError, "500") {
		t.Errorf("delivery after retry: attempts %d, last error %q", dl.Attempts, dl.LastError)
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Unix(1795172400, 0)
	body := []byte(`{"schema":"farmwatch.alert/v1"}`)
	ts := "1795172400"
	sig := SignWebhook(testSecret, ts, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q", sig)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		ts     string
		body   []byte
		sig    string
		now    time.Time
		skew   time.Duration
		want   error
	}{
		{"valid", testSecret, ts, body, sig, now, 5 * time.Minute, nil},
		{"valid upper-case hex", testSecret, ts, body, "sha256=" + strings.ToUpper(sig[7:]), now, 5 * time.Minute, nil},
		{"clock ahead within skew", testSecret, ts, body, sig, now.Add(4 * time.Minute), 5 * time.Minute, nil},
		{"stale", testSecret, ts, body, sig, now.Add(6 * time.Minute), 5 * time.Minute, ErrTimestamp},
		{"from the future", testSecret, ts, body, sig, now.Add(-6 * time.Minute), 5 * time.Minute, ErrTimestamp},
		{"skew check off", testSecret, ts, body, sig, now.Add(24 * time.Hour), 0, nil},
		{"timestamp not a number", testSecret, "yesterday", body, sig, now, 0, ErrTimestamp},
		{"other timestamp", testSecret, "1795172401", body, sig, now, 5 * time.Minute, ErrSignature},
		{"body changed", testSecret, ts, []byte(`{"schema":"farmwatch.alert/v2"}`), sig, now, 5 * time.Minute, ErrSignature},
		{"wrong secret", []byte("another-secret-0123456789"), ts, body, sig, now, 5 * time.Minute, ErrSignature},
		{"no prefix", testSecret, ts, body, sig[7:], now, 5 * time.Minute, ErrSignature},
		{"not hex", testSecret, ts, body, "sha256=zz", now, 5 * time.Minute, ErrSignature},
		{"empty", testSecret, ts, body, "", now, 5 * time.Minute, ErrSignature},
	} {
		err := VerifyWebhook(tc.secret, tc.ts, tc.body, tc.sig, tc.now, tc.skew)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

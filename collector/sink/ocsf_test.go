package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/collector/store"
)

// ocsfEvents covers the shapes the OCSF sink must render validly.
func ocsfEvents() []Event {
	var evs []Event
	evs = append(evs, sampleEvent(), bigEvent())
	for sev := -1; sev <= 5; sev++ {
		ev := sampleEvent()
		ev.Event, ev.Alert.Severity = EventUpdated, sev
		evs = append(evs, ev)
	}
	for _, st := range []store.AlertStatus{store.AlertNew, store.AlertAcknowledged, store.AlertSuppressed, store.AlertResolved, "weird"} {
		ev := sampleEvent()
		ev.Alert.Status = st
		evs = append(evs, ev)
	}
	bare := Event{Event: EventCreated}
	bare.Alert.ID = 9
	evs = append(evs, bare)
	bad := sampleEvent()
	bad.Alert.Evidence = []byte("{not json")
	bad.Devices = append(bad.Devices, store.Device{ID: "dev-c", OS: "plan9"})
	evs = append(evs, bad)
	return evs
}

// checkOCSF validates one emitted object against the OCSF 1.3.0
// Detection Finding requirements this sink promises.
func checkOCSF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var o map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	num := func(path string, v any) int64 {
		n, ok := v.(json.Number)
		if !ok {
			t.Errorf("%s = %v (%T), want an integer", path, v, v)
			return 0
		}
		i, err := n.Int64()
		if err != nil {
			t.Errorf("%s = %v: %v", path, n, err)
		}
		return i
	}
	obj := func(path string, v any) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s = %v (%T), want an object", path, v, v)
		}
		return m
	}
	str := func(path string, v any) string {
		s, ok := v.(string)
		if !ok || s == "" {
			t.Errorf("%s = %v (%T), want a non-empty string", path, v, v)
		}
		return s
	}
	if c := num("class_uid", o["class_uid"]); c != 2004 {
		t.Errorf("class_uid %d", c)
	}
	if c := num("category_uid", o["category_uid"]); c != 2 {
		t.Errorf("category_uid %d", c)
	}
	act := num("activity_id", o["activity_id"])
	if act != 1 && act != 2 {
		t.Errorf("activity_id %d", act)
	}
	if tu := num("type_uid", o["type_uid"]); tu != 2004*100+act {
		t.Errorf("type_uid %d, want %d", tu, 2004*100+act)
	}
	if s := num("severity_id", o["severity_id"]); s < 1 || s > 5 {
		t.Errorf("severity_id %d", s)
	}
	if s := num("status_id", o["status_id"]); (s < 1 || s > 4) && s != 99 {
		t.Errorf("status_id %d", s)
	}
	if tm := num("time", o["time"]); tm < 1e12 || tm > 1e13 {
		t.Errorf("time %d is not in milliseconds", tm)
	}
	md := obj("metadata", o["metadata"])
	if v := str("metadata.version", md["version"]); v != "1.3.0" {
		t.Errorf("metadata.version %q", v)
	}
	prod := obj("metadata.product", md["product"])
	str("metadata.product.name", prod["name"])
	str("metadata.product.vendor_name", prod["vendor_name"])
	fi := obj("finding_info", o["finding_info"])
	str("finding_info.uid", fi["uid"])
	str("finding_info.title", fi["title"])
	for _, k := range []string{"first_seen_time", "last_seen_time", "modified_time"} {
		if v, ok := fi[k]; ok {
			if tm := num("finding_info."+k, v); tm < 1e12 || tm > 1e13 {
				t.Errorf("finding_info.%s %d is not in milliseconds", k, tm)
			}
		}
	}
	evs, _ := o["evidences"].([]any)
	if len(evs) == 0 {
		t.Errorf("no evidences")
	}
	for i, e := range evs {
		em := obj(fmt.Sprintf("evidences[%d]", i), e)
		dev, hasDev := em["device"]
		_, hasData := em["data"]
		if !hasDev && !hasData {
			t.Errorf("evidences[%d] has neither device nor data", i)
		}
		if hasDev {
			d := obj("device", dev)
			num("device.type_id", d["type_id"])
			str("device.uid", d["uid"])
			if osv, ok := d["os"]; ok {
				om := obj("device.os", osv)
				str("device.os.name", om["name"])
				num("device.os.type_id", om["type_id"])
			}
		}
	}
	res, _ := o["resources"].([]any)
	for i, r := range res {
		str(fmt.Sprintf("resources[%d].uid", i), obj("resource", r)["uid"])
	}
	return o
}

func TestOCSFRequiredFields(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for i, ev := range ocsfEvents() {
		line, err := encodeOCSF(ev, now)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("event %d: line break inside the line", i)
		}
		checkOCSF(t, line)
	}
}

func TestOCSFMapping(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	line, err := encodeOCSF(sampleEvent(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"class_uid":2004,"class_name":"Detection Finding","category_uid":2,"category_name":"Findings",` +
		`"activity_id":1,"activity_name":"Create","type_uid":200401,"type_name":"Detection Finding: Create",` +
		`"severity_id":4,"severity":"High","status_id":1,"status":"New","time":1795172400000,"count":2,` +
		`"message":"owners=alice,bob,carol\nsee the console",` +
		`"metadata":{"version":"1.3.0","product":{"name":"farmwatch","vendor_name":"farmwatch","version":"` + Version + `"},` +
		`"correlation_uid":"farm:public_ip:203.0.113.7","logged_time":1795176000000},` +
		`"finding_info":{"uid":"42","title":"3 laptops | 3 owners behind 203.0.113.7 \\ café","desc":"owners=alice,bob,carol\nsee the console",` +
		`"types":["farm"],"first_seen_time":1795168800000,"last_seen_time":1795172400000,"modified_time":1795172400000,` +
		`"src_url":"https://farmwatch.example/alerts/42"},` +
		`"resources":[{"uid":"dev-a","name":"LT\\0042","type":"device","owner":{"name":"alice@example.com"}},` +
		`{"uid":"dev-b","name":"MBP-Bob","type":"device","owner":{"name":"bob@example.com"}},{"uid":"dev-c","type":"device"}],` +
		`"evidences":[{"device":{"type_id":3,"type":"Laptop","uid":"dev-a","hostname":"LT\\0042","owner":{"name":"alice@example.com"},"os":{"name":"Windows","type_id":100}}},` +
		`{"device":{"type_id":3,"type":"Laptop","uid":"dev-b","hostname":"MBP-Bob","owner":{"name":"bob@example.com"},"os":{"name":"macOS","type_id":300}}},` +
		`{"device":{"type_id":3,"type":"Laptop","uid":"dev-c"}},` +
		`{"name":"farmwatch.evidence","data":{"public_ip":"203.0.113.7","devices":3,"note":"a]b\"c"}}],` +
		`"unmapped":{"alert_key":"farm:public_ip:203.0.113.7","collector":"farmwatch-eu","event":"created"}}`
	if string(line) != want {
		t.Errorf("OCSF\n got %s\nwant %s", line, want)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestOCSFFileAppendReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ocsf.jsonl")
	c := Config{Name: "lake", Type: TypeOCSF, Path: path}
	log := zaptest.NewLogger(t)
	ctx := context.Background()
	evs := ocsfEvents()

	s, err := New(c, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs[:3] {
		if err := s.Deliver(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
			t.Errorf("file mode %v, want at most 0640", perm)
		}
	}

	// A new sink on the same path (a collector restart) appends.
	s, err = New(c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ev := range evs[3:] {
		if err := s.Deliver(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	lines := readLines(t, path)
	if len(lines) != len(evs) {
		t.Fatalf("%d lines, want %d", len(lines), len(evs))
	}
	for i, l := range lines {
		o := checkOCSF(t, l)
		if uid := o["finding_info"].(map[string]any)["uid"]; uid != fmt.Sprint(evs[i].Alert.ID) {
			t.Errorf("line %d: finding uid %v, want %d", i, uid, evs[i].Alert.ID)
		}
	}

	// Rotation: the file is moved away; the next line goes to a new file
	// at the path.
	if runtime.GOOS != "windows" {
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Deliver(ctx, evs[0]); err != nil {
			t.Fatal(err)
		}
		if n := len(readLines(t, path)); n != 1 {
			t.Errorf("new file has %d lines, want 1", n)
		}
		if n := len(readLines(t, path+".1")); n != len(evs) {
			t.Errorf("rotated file has %d lines, want %d", n, len(evs))
		}
	}
}

func TestOCSFHTTP(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifyWebhook(testSecret, r.Header.Get(HeaderTimestamp), body, r.Header.Get(HeaderSignature), time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s, err := New(Config{Name: "lake", Type: TypeOCSF, URL: srv.URL + "/ingest", Secret: string(testSecret)}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, ev := range ocsfEvents()[:2] {
		if err := s.Deliver(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("%d requests", len(bodies))
	}
	for _, b := range bodies {
		if !bytes.HasSuffix(b, []byte("\n")) || strings.Count(string(b), "\n") != 1 {
			t.Errorf("body is not one JSON line: %q", b)
		}
		checkOCSF(t, b)
	}
}

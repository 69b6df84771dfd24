package sink

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/farmwatch/farmwatch/collector/store"
)

// runDispatcher starts d.Run and returns a stop function that cancels
// it and checks it returned nil within a second.
func runDispatcher(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(time.Second):
				t.Errorf("Run did not return within 1s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// outbox is a store holding alerts and deliveries for a test: the
// in-memory fake or the real SQLite store.
type outbox interface {
	store.Store
	add(t testing.TB, ev Event, sinks ...string) int64
	pending(sink string) int
}

// sqliteOutbox is the real SQLite store.
type sqliteOutbox struct {
	store.Store
	t        testing.TB
	enrolled map[string]bool
	n        int
}

func openSQLiteOutbox(t testing.TB) *sqliteOutbox {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &sqliteOutbox{Store: st, t: t, enrolled: map[string]bool{}}
}

// add enrolls the event's devices and upserts its alert under a fresh
// key, which enqueues one delivery per sink; it returns the alert id.
func (o *sqliteOutbox) add(t testing.TB, ev Event, sinks ...string) int64 {
	t.Helper()
	ctx := context.Background()
	for _, d := range ev.Devices {
		if o.enrolled[d.ID] {
			continue
		}
		d.PublicKey = []byte("test key of " + d.ID)
		if err := o.EnrollDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
		o.enrolled[d.ID] = true
	}
	o.n++
	a := ev.Alert
	a.ID, a.Key = 0, fmt.Sprintf("%s#%d", a.Key, o.n)
	out, ch, err := o.UpsertAlert(ctx, a, sinks)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Created || !ch.Notified {
		t.Fatalf("UpsertAlert: %+v", ch)
	}
	return out.ID
}

func (o *sqliteOutbox) pending(sink string) int {
	m, err := o.PendingDeliveries(context.Background())
	if err != nil {
		o.t.Error(err)
		return -1
	}
	return m[sink]
}

// outboxes are the stores the Dispatcher tests run against, with how
// many alerts to put through each (SQLite syncs every transaction, and
// is slow under the race detector).
var outboxes = []struct {
	name   string
	open   func(t testing.TB) outbox
	alerts int
}{
	{"memory", func(t testing.TB) outbox { return newMemStore(t) }, 30},
	{"sqlite", func(t testing.TB) outbox { return openSQLiteOutbox(t) }, 10},
}

// addAlerts adds n new alerts, each with one delivery per sink, and
// returns their ids in order.
func addAlerts(t testing.TB, ob outbox, n int, sinks ...string) []int64 {
	var ids []int64
	for range n {
		ev := sampleEvent()
		ev.Alert.ID = 0
		ids = append(ids, ob.add(t, ev, sinks...))
	}
	return ids
}

func TestDispatcherSlowSinkDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	for _, tc := range outboxes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.open(t)
			slow := &recorder{name: "slow", block: make(chan struct{})}
			fast := &recorder{name: "fast"}
			ids := addAlerts(t, st, tc.alerts, "slow", "fast")
			d := &Dispatcher{Store: st, Sinks: []Sink{slow, fast}, Log: zaptest.NewLogger(t), BatchSize: 7, PollInterval: 10 * time.Millisecond}
			stop := runDispatcher(t, d)

			waitFor(t, 10*time.Second, "the fast sink to get every alert", func() bool { return st.pending("fast") == 0 })
			if n := slow.count(); n != 0 {
				t.Fatalf("the blocked sink delivered %d", n)
			}
			if n := st.pending("slow"); n != tc.alerts {
				t.Errorf("slow sink: %d pending, want %d", n, tc.alerts)
			}
			close(slow.block)
			waitFor(t, 10*time.Second, "the slow sink to catch up", func() bool { return st.pending("slow") == 0 })
			stop()
			if got := slow.alertIDs(); !slices.Equal(got, ids) {
				t.Errorf("slow sink got %v, want %v", got, ids)
			}
			if got := fast.alertIDs(); !slices.Equal(got, ids) {
				t.Errorf("fast sink got %v, want %v", got, ids)
			}
		})
	}
}

// TestDispatcherRetriesUntilDelivered: a sink that fails two calls out
// of three still ends with every alert exactly once.
func TestDispatcherRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	for _, tc := range outboxes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.open(t)
			flaky := &recorder{name: "flaky", fail: func(call int, ev Event) error {
				if call%3 != 0 {
					return fmt.Errorf("connection reset (call %d)", call)
				}
				return nil
			}}
			ids := addAlerts(t, st, tc.alerts, "flaky")
			var (
				mu      sync.Mutex
				results = map[bool]int{}
			)
			d := &Dispatcher{
				Store: st, Sinks: []Sink{flaky}, Log: zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel)),
				MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: 2 * time.Millisecond,
				OnResult: func(sink string, ok bool, d time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					if sink != "flaky" {
						t.Errorf("OnResult for %q", sink)
					}
					results[ok]++
				},
			}
			stop := runDispatcher(t, d)
			waitFor(t, 30*time.Second, "every delivery to complete", func() bool { return st.pending("flaky") == 0 })
			stop()
			if got := flaky.alertIDs(); !slices.Equal(got, ids) {
				t.Errorf("delivered %v, want each of %v exactly once", got, ids)
			}
			mu.Lock()
			defer mu.Unlock()
			if results[true] != tc.alerts || results[false] < tc.alerts {
				t.Errorf("OnResult: %d ok, %d failed", results[true], results[false])
			}
			ms, ok := st.(*memStore)
			if !ok {
				return
			}
			retried := 0
			for i := range ids { // one sink: delivery ids are 1..n
				id := int64(i + 1)
				for _, delay := range ms.delivery(id).delays {
					retried++
					if delay > 20*time.Millisecond {
						t.Errorf("delivery %d: retry asked %s ahead, above MaxBackoff (20ms)", id, delay)
					}
				}
			}
			if retried < tc.alerts {
				t.Errorf("only %d retries recorded", retried)
			}
		})
	}
}

func TestDispatcherPermanentFailureKeepsTheAlert(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	refusing := &recorder{name: "soc", fail: func(int, Event) error {
		return fmt.Errorf("%w: post https://hooks.example/: 401 Unauthorized", ErrPermanent)
	}}
	st.add(t, sampleEvent(), "soc")
	core, logs := observer.New(zapcore.InfoLevel)
	d := &Dispatcher{Store: st, Sinks: []Sink{refusing}, Log: zap.New(core),
		MinBackoff: time.Millisecond, MaxBackoff: time.Hour, PollInterval: 5 * time.Millisecond}
	stop := runDispatcher(t, d)
	waitFor(t, 5*time.Second, "the retry to be scheduled", func() bool { return st.delivery(1).Attempts == 1 })
	time.Sleep(30 * time.Millisecond) // it must not be retried soon
	stop()
	dl := st.delivery(1)
	if dl.done || dl.Attempts != 1 {
		t.Fatalf("delivery: done %v, attempts %d", dl.done, dl.Attempts)
	}
	if wait := time.Until(dl.NextAt); wait < 59*time.Minute || wait > time.Hour {
		t.Errorf("next attempt in %s, want MaxBackoff (1h)", wait)
	}
	errs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
	if len(errs) != 1 || errs[0].ContextMap()["sink"] != "soc" || errs[0].ContextMap()["alert"] != int64(42) {
		t.Errorf("want one error log naming the sink and alert, got %v", errs)
	}
}

func TestDispatcherMissingAlertIsNotDropped(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	st.add(t, sampleEvent(), "soc")
	st.mu.Lock()
	delete(st.alerts, 42)
	st.mu.Unlock()
	r := &recorder{name: "soc"}
	d := &Dispatcher{Store: st, Sinks: []Sink{r}, Log: zaptest.NewLogger(t), MaxBackoff: time.Hour, PollInterval: 5 * time.Millisecond}
	stop := runDispatcher(t, d)
	waitFor(t, 5*time.Second, "the retry", func() bool { return st.delivery(1).Attempts == 1 })
	stop()
	if dl := st.delivery(1); dl.done || time.Until(dl.NextAt) < 59*time.Minute {
		t.Errorf("delivery of a missing alert: done %v, next %s", dl.done, dl.NextAt)
	}
}

func TestDispatcherEvent(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	ev := sampleEvent()
	ev.Event = EventUpdated
	st.add(t, ev, "soc")
	st.failDevice = "dev-b" // a failing lookup only loses that member's details
	r := &recorder{name: "soc"}
	d := &Dispatcher{Store: st, Sinks: []Sink{r}, Log: zaptest.NewLogger(t), Collector: "farmwatch-eu",
		ConsoleURL: "https://farmwatch.example/", PollInterval: 5 * time.Millisecond}
	stop := runDispatcher(t, d)
	waitFor(t, 5*time.Second, "the delivery", func() bool { return r.count() == 1 })
	stop()
	got := r.got[0]
	if got.Event != EventUpdated || got.Collector != "farmwatch-eu" || got.ConsoleURL != "https://farmwatch.example/alerts/42" {
		t.Errorf("event %q collector %q console %q", got.Event, got.Collector, got.ConsoleURL)
	}
	if len(got.Devices) != 1 || got.Devices[0].ID != "dev-a" {
		t.Errorf("devices %+v, want dev-a only (dev-b fails, dev-c is unknown)", got.Devices)
	}
	if len(got.Alert.Members) != 3 {
		t.Errorf("members %v", got.Alert.Members)
	}
}

func TestDispatcherNotifyWakesEarly(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	r := &recorder{name: "soc"}
	d := &Dispatcher{Store: st, Sinks: []Sink{r}, Log: zaptest.NewLogger(t), PollInterval: time.Hour}
	d.Notify() // before Run: harmless
	runDispatcher(t, d)
	waitFor(t, 5*time.Second, "the first (empty) claim", func() bool { return st.claimCount() >= 1 })
	st.add(t, sampleEvent(), "soc")
	start := time.Now()
	d.Notify()
	waitFor(t, 5*time.Second, "the notified delivery", func() bool { return r.count() == 1 })
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s after Notify", took)
	}
}

func TestDispatcherStopsOnCancel(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	stuck := &recorder{name: "stuck", block: make(chan struct{})} // never released
	idle := &recorder{name: "idle"}
	addAlerts(t, st, 3, "stuck")
	d := &Dispatcher{Store: st, Sinks: []Sink{stuck, idle}, Log: zaptest.NewLogger(t), PollInterval: 5 * time.Millisecond}
	stop := runDispatcher(t, d)
	time.Sleep(50 * time.Millisecond) // stuck is now inside Deliver
	stop()                            // fails the test if Run does not return within 1s
	if dl := st.delivery(1); dl.done || dl.Attempts != 1 || dl.LastError != "" {
		t.Errorf("the interrupted delivery: done %v, attempts %d, error %q; want it left to its lease", dl.done, dl.Attempts, dl.LastError)
	}
}

func TestDispatcherSurvivesStoreErrors(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	st.claimErrs = 4
	st.add(t, sampleEvent(), "soc")
	r := &recorder{name: "soc"}
	d := &Dispatcher{Store: st, Sinks: []Sink{r}, Log: zaptest.NewLogger(t), PollInterval: 2 * time.Millisecond}
	runDispatcher(t, d)
	waitFor(t, 5*time.Second, "the delivery after the store recovers", func() bool { return r.count() == 1 })
	if n := st.claimCount(); n < 5 {
		t.Errorf("%d claims", n)
	}
}

func TestDispatcherConfigErrors(t *testing.T) {
	t.Parallel()
	if err := (&Dispatcher{}).Run(context.Background()); err == nil {
		t.Error("no store: no error")
	}
	d := &Dispatcher{Store: newMemStore(t), Sinks: []Sink{&recorder{name: "a"}, &recorder{name: "a"}}}
	if err := d.Run(context.Background()); err == nil {
		t.Error("duplicate sink names: no error")
	}

	// No sinks: nothing to do until stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := (&Dispatcher{Store: newMemStore(t)}).Run(ctx); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("no sinks: Run returned %v after %s", err, time.Since(start))
	}
}

// TestDispatcherLeaseBoundsTheBatch: with a lease shorter than a batch
// takes, the loop stops starting deliveries whose claim would run out,
// and they are claimed again later; each is still delivered once.
func TestDispatcherLeaseBoundsTheBatch(t *testing.T) {
	t.Parallel()
	st := newMemStore(t)
	slowish := &recorder{name: "slowish", fail: func(int, Event) error { time.Sleep(30 * time.Millisecond); return nil }}
	ids := addAlerts(t, st, 10, "slowish")
	d := &Dispatcher{Store: st, Sinks: []Sink{slowish}, Log: zaptest.NewLogger(t), BatchSize: 10,
		Lease: 100 * time.Millisecond, DeliveryTimeout: 40 * time.Millisecond, PollInterval: 5 * time.Millisecond}
	stop := runDispatcher(t, d)
	waitFor(t, 10*time.Second, "every delivery", func() bool { return st.pending("slowish") == 0 })
	stop()
	if got := slowish.alertIDs(); !slices.Equal(got, ids) {
		t.Errorf("delivered %v, want %v", got, ids)
	}
	if n := st.claimCount(); n < 3 {
		t.Errorf("%d claims: the batch was not cut by the lease", n)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	w := &sinkLoop{set: (&Dispatcher{MinBackoff: time.Second, MaxBackoff: time.Minute}).settings()}
	for attempts, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 60: time.Minute} {
		for range 50 {
			got := w.backoff(attempts)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempts, got, want/2, want)
			}
		}
	}
}

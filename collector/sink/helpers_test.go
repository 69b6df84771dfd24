package sink

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

var (
	t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC) // 1795168800
	t1 = t0.Add(time.Hour)                              // 1795172400
)

// sampleEvent is an alert with every character the formats must escape,
// one member whose device record is missing, and a console link.
func sampleEvent() Event {
	return Event{
		Event: EventCreated,
		Alert: store.Alert{
			ID: 42, Key: "farm:public_ip:203.0.113.7", Kind: "farm", Severity: 3, Status: store.AlertNew,
			Title:     `3 laptops | 3 owners behind 203.0.113.7 \ café`,
			Summary:   "owners=alice,bob,carol\nsee the console",
			Members:   []string{"dev-a", "dev-b", "dev-c"},
			Evidence:  []byte(`{"public_ip": "203.0.113.7", "devices": 3, "note": "a]b\"c"}`),
			FirstSeen: t0, LastSeen: t1, UpdatedAt: t1, Count: 2,
		},
		Devices: []store.Device{
			{ID: "dev-b", Hostname: "MBP-Bob", Owner: "bob@example.com", OS: "darwin", Arch: "arm64", LastSeen: t1},
			{ID: "dev-a", Hostname: `LT\0042`, Owner: "alice@example.com", OS: "windows", Arch: "amd64", PublicIP: "203.0.113.7"},
		},
		Collector:  "farmwatch-eu",
		ConsoleURL: "https://farmwatch.example/alerts/42",
	}
}

// bigEvent is a typical large alert: 12 members and 1 KB of evidence.
func bigEvent() Event {
	ev := sampleEvent()
	ev.Alert.Members = nil
	ev.Devices = nil
	for i := range 12 {
		id := fmt.Sprintf("9f2c1e0a7b6d4c3e8a1f2b3c4d5e6f7%02d", i)
		ev.Alert.Members = append(ev.Alert.Members, id)
		ev.Devices = append(ev.Devices, store.Device{ID: id, Hostname: fmt.Sprintf("LT-%04d", i),
			Owner: fmt.Sprintf("owner%d@example.com", i%5), OS: "windows", Arch: "amd64", PublicIP: "203.0.113.7", LastSeen: t1})
	}
	ev.Alert.Evidence = fmt.Appendf(nil, `{"public_ip":"203.0.113.7","window":"24h","devices":%q,"gateway_hashes":["%064d"],"owners":5,"detail":"%0900d"}`,
		ev.Alert.Members, 0, 0)
	return ev
}

// memStore is an in-memory stand-in for the few store.Store methods the
// Dispatcher uses, with the SQLite store's outbox semantics (a claim
// counts an attempt and makes the delivery due again when its lease
// ends); it checks the outbox invariants as it goes.
type memStore struct {
	store.Store // other methods are not used (nil: they would panic)

	mu         sync.Mutex
	t          testing.TB
	alerts     map[int64]store.Alert
	devices    map[string]store.Device
	deliveries []*memDelivery
	// failDevice makes GetDevice of that id fail with a non-NotFound
	// error.
	failDevice string
	// claimErrs fails that many ClaimDeliveries calls first.
	claimErrs int
	claims    int
}

type memDelivery struct {
	store.Delivery
	done   bool
	delays []time.Duration // next - now, as asked by RetryDelivery
}

func newMemStore(t testing.TB) *memStore {
	return &memStore{t: t, alerts: map[int64]store.Alert{}, devices: map[string]store.Device{}}
}

// add stores the alert (and devices) and enqueues one delivery per sink.
// An alert id of 0 gets the next free one.
func (m *memStore) add(t testing.TB, ev Event, sinks ...string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ev.Alert.ID == 0 {
		ev.Alert.ID = int64(len(m.alerts) + 1)
		for m.alerts[ev.Alert.ID].ID != 0 {
			ev.Alert.ID++
		}
	}
	m.alerts[ev.Alert.ID] = ev.Alert
	for _, d := range ev.Devices {
		m.devices[d.ID] = d
	}
	for _, s := range sinks {
		m.deliveries = append(m.deliveries, &memDelivery{Delivery: store.Delivery{
			ID: int64(len(m.deliveries) + 1), Sink: s, AlertID: ev.Alert.ID, Event: ev.Event, CreatedAt: time.Now(),
		}})
	}
	return ev.Alert.ID
}

func (m *memStore) ClaimDeliveries(ctx context.Context, sink string, max int, now time.Time, lease time.Duration) ([]store.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims++
	if m.claimErrs > 0 {
		m.claimErrs--
		return nil, errors.New("database is locked")
	}
	var out []store.Delivery
	for _, d := range m.deliveries {
		if len(out) == max {
			break
		}
		if d.Sink != sink || d.done || d.NextAt.After(now) {
			continue
		}
		d.Attempts++
		d.NextAt = now.Add(lease)
		out = append(out, d.Delivery)
	}
	return out, nil
}

func (m *memStore) CompleteDelivery(ctx context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.deliveries[id-1]
	if d.done {
		m.t.Errorf("delivery %d completed twice", id)
	}
	d.done = true
	return nil
}

func (m *memStore) RetryDelivery(ctx context.Context, id int64, next time.Time, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.deliveries[id-1]
	if d.done {
		m.t.Errorf("delivery %d retried after completion", id)
	}
	d.NextAt, d.LastError = next, lastErr
	d.delays = append(d.delays, time.Until(next))
	return nil
}

func (m *memStore) claimCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claims
}

func (m *memStore) GetAlert(ctx context.Context, id int64) (store.Alert, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.alerts[id]
	if !ok {
		return store.Alert{}, fmt.Errorf("alert %d: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func (m *memStore) GetDevice(ctx context.Context, id string) (store.Device, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == m.failDevice {
		return store.Device{}, fmt.Errorf("device %s: database is locked", id)
	}
	d, ok := m.devices[id]
	if !ok {
		return store.Device{}, fmt.Errorf("device %s: %w", id, store.ErrNotFound)
	}
	return d, nil
}

// pending counts the deliveries of sink not yet done.
func (m *memStore) pending(sink string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, d := range m.deliveries {
		if d.Sink == sink && !d.done {
			n++
		}
	}
	return n
}

func (m *memStore) delivery(id int64) memDelivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.deliveries[id-1]
}

// recorder is a Sink that records what it accepted; fail, if set,
// decides the outcome of each call.
type recorder struct {
	name  string
	mu    sync.Mutex
	got   []Event
	calls int
	fail  func(call int, ev Event) error
	// block, if set, is waited on before each delivery (or ctx).
	block chan struct{}
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Deliver(ctx context.Context, ev Event) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		if err := r.fail(r.calls, ev); err != nil {
			return err
		}
	}
	r.got = append(r.got, ev)
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// alertIDs lists the accepted events' alert ids, sorted.
func (r *recorder) alertIDs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for _, ev := range r.got {
		ids = append(ids, ev.Alert.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

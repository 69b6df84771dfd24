package geodrift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// listen opens a real TCP listener on 127.0.0.1 that accepts and closes
// connections until the test ends; each accepted connection is announced
// on the returned channel.
func listen(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			c.Close()
			select {
			case ch <- struct{}{}:
			default: // nobody counts beyond the buffer
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), ch
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestLandmarksAgainstRealListeners(t *testing.T) {
	t.Parallel()
	open, accepted := listen(t)
	closed := closedPort(t)
	landmarks := []Landmark{
		{Name: "open", Address: open, Latitude: 41.88, Longitude: -87.63},
		{Name: "closed", Address: closed, Latitude: 51.5, Longitude: -0.12},
	}
	got := newProber().measure(t.Context(), landmarks, probeSettings{samples: 4, sampleTimeout: 5 * time.Second, deadline: 20 * time.Second, concurrency: 2})
	if len(got) != 2 {
		t.Fatalf("%d results, want 2", len(got))
	}
	o := got[0]
	if o.Name != "open" || o.Latitude != 41.88 || o.Longitude != -87.63 || o.Samples != 4 || o.Error != "" || o.RTTMS <= 0 {
		t.Errorf("open landmark: %+v, want 4 samples, an RTT and no error", o)
	}
	// Each sample is a real connection: the listener accepts four (the
	// kernel completes the handshake before Accept returns, so they are
	// counted as they come, until the test's deadline).
	for i := range 4 {
		select {
		case <-accepted:
		case <-t.Context().Done():
			t.Fatalf("listener accepted %d connections, want 4", i)
		}
	}
	select {
	case <-accepted:
		t.Error("listener accepted a fifth connection")
	default:
	}
	c := got[1]
	if c.Name != "closed" || c.Samples != 0 || c.RTTMS != 0 || !strings.Contains(c.Error, "4 of 4 samples failed") {
		t.Errorf("closed landmark: %+v, want no RTT and an error", c)
	}
}

// fakeDial records how many dials run at once and answers after a fixed
// fake duration, so the minimum and the concurrency bound can be checked
// without timing anything.
type fakeDial struct {
	mu             sync.Mutex
	active, peak   int
	release        chan struct{}
	refuse         map[string]bool
	resolveAddrs   map[string][]netip.Addr
	resolveQueried []string
}

type nopConn struct{ net.Conn }

func (nopConn) Close() error { return nil }

func (f *fakeDial) prober() *prober {
	return &prober{
		dial: func(ctx context.Context, _, addr string) (net.Conn, error) {
			f.mu.Lock()
			f.active++
			f.peak = max(f.peak, f.active)
			f.mu.Unlock()
			defer func() { f.mu.Lock(); f.active--; f.mu.Unlock() }()
			if f.release != nil {
				select {
				case <-f.release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			if f.refuse[addr] {
				return nil, errors.New("connection refused")
			}
			return nopConn{}, nil
		},
		resolve: func(_ context.Context, _, host string) ([]netip.Addr, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.resolveQueried = append(f.resolveQueried, host)
			a, ok := f.resolveAddrs[host]
			if !ok {
				return nil, fmt.Errorf("lookup %s: no such host", host)
			}
			return a, nil
		},
		// since is set by each test.
		since: nil,
	}
}

func TestLandmarkMinimumAndResolution(t *testing.T) {
	t.Parallel()
	f := &fakeDial{resolveAddrs: map[string][]netip.Addr{
		"lm.example": {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.7")},
	}}
	pr := f.prober()
	var mu sync.Mutex
	seq := []time.Duration{30 * time.Millisecond, 12 * time.Millisecond, 18500 * time.Microsecond}
	i := 0
	pr.since = func(time.Time) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		d := seq[i%len(seq)]
		i++
		return d
	}
	var dialled []string
	dial := pr.dial
	pr.dial = func(ctx context.Context, n, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		return dial(ctx, n, addr)
	}
	got := pr.measure(t.Context(), []Landmark{{Name: "a", Address: "lm.example:443"}, {Name: "b", Address: "nowhere.example:443"}},
		probeSettings{samples: 3, sampleTimeout: time.Second, deadline: time.Minute, concurrency: 1})
	if got[0].RTTMS != 12 || got[0].Samples != 3 || got[0].Error != "" {
		t.Errorf("a: %+v, want the minimum 12 ms over 3 samples", got[0])
	}
	for _, a := range dialled {
		if a != "192.0.2.7:443" {
			t.Errorf("dialled %s, want the IPv4 address, resolved once", a)
		}
	}
	if got[1].Samples != 0 || !strings.Contains(got[1].Error, "resolve nowhere.example") {
		t.Errorf("b: %+v, want a resolution error", got[1])
	}
	if len(f.resolveQueried) != 2 {
		t.Errorf("resolved %v, want each host once", f.resolveQueried)
	}
}

func TestLandmarkConcurrencyBound(t *testing.T) {
	t.Parallel()
	f := &fakeDial{release: make(chan struct{})}
	pr := f.prober()
	pr.since = func(time.Time) time.Duration { return time.Millisecond }
	var lms []Landmark
	for i := range 7 {
		lms = append(lms, Landmark{Name: fmt.Sprint(i), Address: fmt.Sprintf("192.0.2.%d:443", i+1)})
	}
	done := make(chan []detectors.LandmarkRTT)
	go func() {
		done <- pr.measure(context.Background(), lms, probeSettings{samples: 2, sampleTimeout: time.Minute, deadline: time.Hour, concurrency: 3})
	}()
	// Let every dial through, one at a time; 7 landmarks × 2 samples.
	for range 14 {
		f.release <- struct{}{}
	}
	got := <-done
	for _, r := range got {
		if r.Samples != 2 || r.Error != "" {
			t.Errorf("%+v", r)
		}
	}
	if f.peak > 3 {
		t.Errorf("%d dials at once, want at most 3", f.peak)
	}
}

func TestLandmarkDeadline(t *testing.T) {
	t.Parallel()
	// The dials never return on their own: only the deadline (here, the
	// parent context's cancellation) ends them.
	f := &fakeDial{release: make(chan struct{})}
	pr := f.prober()
	pr.since = func(time.Time) time.Duration { return time.Millisecond }
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got := pr.measure(ctx, []Landmark{{Name: "x", Address: "192.0.2.1:443"}, {Name: "y", Address: "192.0.2.2:443"}},
		probeSettings{samples: 5, sampleTimeout: time.Hour, deadline: time.Hour, concurrency: 1})
	for _, r := range got {
		if r.Samples != 0 || r.RTTMS != 0 || r.Error == "" {
			t.Errorf("%+v, want no RTT and an error after cancellation", r)
		}
	}
}

// TestObserveProbesPolicyLandmarks runs Observe end to end with a policy
// naming a real listener and a closed port.
func TestObserveProbesPolicyLandmarks(t *testing.T) {
	t.Parallel()
	open, _ := listen(t)
	d := New().(*detector)
	d.network = recordedNetwork{}
	raw, _ := json.Marshal(map[string]any{
		"samples": 2,
		"landmarks": []Landmark{
			{Name: "here", Address: open, Latitude: 1, Longitude: 2},
			{Name: "shut", Address: closedPort(t), Latitude: 3, Longitude: 4},
		},
	})
	pol, err := d.DecodePolicy(raw)
	if err != nil {
		t.Fatal(err)
	}
	obs, _ := d.ObserveWith(t.Context(), detectortest.EmptyHost(t, "linux"), pol)
	o := obs.(*Observation)
	if len(o.Landmarks) != 2 || o.Landmarks[0].Samples != 2 || o.Landmarks[0].RTTMS <= 0 || o.Landmarks[1].Error == "" || o.Landmarks[1].RTTMS != 0 {
		t.Errorf("landmarks %+v", o.Landmarks)
	}
	var c detectors.ReportContext
	o.Contribute(&c)
	if len(c.Geo.Landmarks) != 2 {
		t.Errorf("report context landmarks %+v", c.Geo.Landmarks)
	}
	// Without landmarks in the policy nothing is probed.
	d2 := New().(*detector)
	d2.network = recordedNetwork{}
	obs, _ = d2.Observe(t.Context(), detectortest.EmptyHost(t, "linux"))
	if l := obs.(*Observation).Landmarks; len(l) != 0 {
		t.Errorf("default policy probed %+v", l)
	}
}

package geodrift

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// prober measures TCP connect times to landmark servers. Connect time is
// one round trip (SYN out, SYN-ACK back) plus the kernel's handling, so it
// bounds the distance to the landmark from above; the minimum over several
// samples is the closest to the true propagation delay.
type prober struct {
	// dial opens a TCP connection; a net.Dialer's DialContext.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// resolve looks a host name up; net.DefaultResolver.LookupNetIP.
	resolve func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// since measures elapsed time with the monotonic clock.
	since func(time.Time) time.Duration
}

func newProber() *prober {
	d := &net.Dialer{}
	return &prober{dial: d.DialContext, resolve: net.DefaultResolver.LookupNetIP, since: time.Since}
}

// probeSettings are the policy's knobs for one probing run.
type probeSettings struct {
	samples       int
	sampleTimeout time.Duration
	deadline      time.Duration
	concurrency   int
}

func (p *Policy) probeSettings() probeSettings {
	return probeSettings{samples: p.Samples, sampleTimeout: time.Duration(p.SampleTimeout),
		deadline: time.Duration(p.ProbeDeadline), concurrency: p.Concurrency}
}

// measure probes every landmark, at most s.concurrency at once, and
// returns one result per landmark in policy order. It returns when every
// probe has ended, by s.deadline at the latest.
func (pr *prober) measure(ctx context.Context, landmarks []Landmark, s probeSettings) []detectors.LandmarkRTT {
	if len(landmarks) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.deadline)
	defer cancel()
	out := make([]detectors.LandmarkRTT, len(landmarks))
	sem := make(chan struct{}, max(1, s.concurrency))
	var wg sync.WaitGroup
	for i, l := range landmarks {
		out[i] = detectors.LandmarkRTT{Name: l.Name, Latitude: l.Latitude, Longitude: l.Longitude}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i].Error = fmt.Sprintf("not probed: %v", ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pr.probe(ctx, l, s, &out[i])
		}()
	}
	wg.Wait()
	return out
}

// probe times s.samples connects to one landmark, one after the other so
// that they do not queue behind each other. The address is resolved once,
// first, so that name resolution is not timed.
func (pr *prober) probe(ctx context.Context, l Landmark, s probeSettings, r *detectors.LandmarkRTT) {
	host, port, err := net.SplitHostPort(l.Address)
	if err != nil {
		r.Error = fmt.Sprintf("address %q: %v", l.Address, err)
		return
	}
	addr, err := pr.lookup(ctx, host)
	if err != nil {
		r.Error = err.Error()
		return
	}
	target := net.JoinHostPort(addr.String(), port)
	best := time.Duration(math.MaxInt64)
	var failures []error
	for range s.samples {
		if ctx.Err() != nil {
			failures = append(failures, ctx.Err())
			break
		}
		d, err := pr.sample(ctx, target, s.sampleTimeout)
		if err != nil {
			failures = append(failures, err)
			continue
		}
		r.Samples++
		best = min(best, d)
	}
	if r.Samples > 0 {
		r.RTTMS = math.Round(float64(best)/float64(time.Microsecond)) / 1000
	}
	if len(failures) > 0 {
		r.Error = fmt.Sprintf("%d of %d samples failed: %v", len(failures), s.samples, failures[len(failures)-1])
	}
}

// lookup resolves host to one address, preferring IPv4 (landmark
// coordinates are of the server, whatever the family, and IPv4 paths are
// the ones most often measured).
func (pr *prober) lookup(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	addrs, err := pr.resolve(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return addrs[0], nil
}

// sample times one TCP connect.
func (pr *prober) sample(ctx context.Context, target string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	c, err := pr.dial(ctx, "tcp", target)
	d := pr.since(start)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, fmt.Errorf("connect %s: no answer within %s", target, timeout)
		}
		return 0, fmt.Errorf("connect %s: %w", target, err)
	}
	c.Close()
	return d, nil
}

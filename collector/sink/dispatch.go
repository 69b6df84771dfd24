package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Dispatcher defaults.
const (
	DefaultLease        = 2 * time.Minute
	DefaultBatchSize    = 20
	DefaultMinBackoff   = 5 * time.Second
	DefaultMaxBackoff   = 30 * time.Minute
	DefaultPollInterval = time.Second
	// DefaultDeliveryTimeout bounds one Deliver call; a sink's own
	// timeout (Config.Timeout) is normally shorter.
	DefaultDeliveryTimeout = 30 * time.Second
)

// bookkeepingTimeout bounds the store calls that record an outcome; they
// run even while stopping, so an alert already delivered is marked so.
const bookkeepingTimeout = 10 * time.Second

// Dispatcher delivers the store's outbox (one Delivery per alert change
// and sink, enqueued by UpsertAlert in the alert's transaction) to the
// sinks.
//
// Guarantee: at-least-once, and no alert is ever dropped. A delivery
// leaves the outbox only through CompleteDelivery after its sink
// accepted it. A failure schedules a retry with exponential backoff and
// jitter, from MinBackoff up to MaxBackoff; a permanent failure (the
// receiver refused the request, ErrPermanent) is logged at error level
// and retried at MaxBackoff, so fixing the receiver or its credentials
// is enough for queued alerts to arrive. If the collector dies during a
// delivery, the claim's lease runs out and the delivery is claimed
// again, perhaps by another node: receivers may see an event twice and
// can dedupe on the alert's id, event and updated_at. A sink never slows ingest: the collector only writes the
// outbox, and each sink has its own loop, so a slow or dead sink delays
// only its own deliveries.
//
// The caller chooses the sinks of each alert (see Wants), owns the
// sinks (Run does not close them) and calls Notify after an UpsertAlert
// that enqueued deliveries.
type Dispatcher struct {
	Store store.Store
	Sinks []Sink
	Log   *zap.Logger
	// Lease is how long a claim holds deliveries (default 2m). A
	// delivery is only started while its claim has at least
	// DeliveryTimeout left, so no other node delivers it meanwhile.
	Lease time.Duration
	// BatchSize is how many deliveries one claim takes (default 20).
	BatchSize int
	// MinBackoff is the first retry delay (default 5s); it doubles per
	// attempt, with jitter, up to MaxBackoff (default 30m).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// PollInterval is how often an idle sink looks for work (default
	// 1s); Notify wakes it earlier.
	PollInterval time.Duration
	// DeliveryTimeout bounds one Deliver (default 30s, at most Lease/2).
	DeliveryTimeout time.Duration
	// Collector is the collector's name, put in every event.
	Collector string
	// ConsoleURL is the console's base URL; events link to
	// ConsoleURL + "/alerts/<id>". Empty: no link.
	ConsoleURL string
	// OnResult, if set, is called after every delivery attempt (from the
	// sink's goroutine), e.g. to count metrics.
	OnResult func(sink string, ok bool, d time.Duration)

	mu    sync.Mutex
	wakes map[string]chan struct{}
	// now is the clock (tests).
	now func() time.Time
}

// Notify wakes every sink's loop to claim new deliveries now rather than
// at the next poll. It never blocks and may be called before Run.
func (d *Dispatcher) Notify() {
	for _, ch := range d.wakeChans() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (d *Dispatcher) wakeChans() map[string]chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.wakes == nil {
		d.wakes = make(map[string]chan struct{}, len(d.Sinks))
		for _, s := range d.Sinks {
			d.wakes[s.Name()] = make(chan struct{}, 1)
		}
	}
	return d.wakes
}

// settings are the Dispatcher's fields with defaults applied.
type settings struct {
	lease, minBackoff, maxBackoff, poll, timeout time.Duration
	batch                                        int
	now                                          func() time.Time
}

func (d *Dispatcher) settings() settings {
	s := settings{
		lease: d.Lease, batch: d.BatchSize, minBackoff: d.MinBackoff, maxBackoff: d.MaxBackoff,
		poll: d.PollInterval, timeout: d.DeliveryTimeout, now: d.now,
	}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	if s.batch <= 0 {
		s.batch = DefaultBatchSize
	}
	if s.minBackoff <= 0 {
		s.minBackoff = DefaultMinBackoff
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = DefaultMaxBackoff
	}
	if s.maxBackoff < s.minBackoff {
		s.maxBackoff = s.minBackoff
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
	}
	if s.timeout <= 0 {
		s.timeout = DefaultDeliveryTimeout
	}
	if s.timeout > s.lease/2 {
		s.timeout = s.lease / 2
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Run delivers until ctx is cancelled, one goroutine per sink, and
// returns nil then, after every sink's goroutine has stopped (a delivery
// in flight is cut off by the cancellation; its claim runs out and it is
// delivered again later). It returns an error at once if the Dispatcher
// is misconfigured.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.Store == nil {
		return errors.New("dispatcher: no store")
	}
	names := map[string]bool{}
	for _, s := range d.Sinks {
		if names[s.Name()] {
			return fmt.Errorf("dispatcher: sink name %q used twice", s.Name())
		}
		names[s.Name()] = true
	}
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	if len(d.Sinks) == 0 {
		<-ctx.Done()
		return nil
	}
	set := d.settings()
	wakes := d.wakeChans()
	var wg sync.WaitGroup
	for _, s := range d.Sinks {
		w := &sinkLoop{d: d, s: s, set: set, log: log.With(zap.String("sink", s.Name())), wake: wakes[s.Name()]}
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	return nil
}

// sinkLoop is the delivery loop of one sink.
type sinkLoop struct {
	d    *Dispatcher
	s    Sink
	set  settings
	log  *zap.Logger
	wake chan struct{}
}

func (w *sinkLoop) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		full, err := w.batch(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := w.set.poll
		if err != nil {
			// The store is unreachable: back off up to 30s so the log
			// is not flooded; nothing is lost meanwhile.
			failures++
			for i := 1; i < failures && wait < 30*time.Second; i++ {
				wait *= 2
			}
			wait = min(wait, max(30*time.Second, w.set.poll))
			w.log.Warn("claiming deliveries failed", zap.Error(err), zap.Duration("retry_in", wait))
		} else {
			failures = 0
			if full {
				continue // more may be waiting
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// batch claims and delivers one batch; full is true when the claim came
// back full.
func (w *sinkLoop) batch(ctx context.Context) (full bool, err error) {
	claimedAt := w.set.now()
	ds, err := w.d.Store.ClaimDeliveries(ctx, w.s.Name(), w.set.batch, claimedAt, w.set.lease)
	if err != nil {
		return false, err
	}
	leaseEnd := claimedAt.Add(w.set.lease)
	for i, dl := range ds {
		if ctx.Err() != nil {
			return false, nil
		}
		// Only start while the claim outlasts the delivery; the rest
		// come back when the lease runs out.
		if w.set.now().Add(w.set.timeout).After(leaseEnd) {
			w.log.Info("claim too old to deliver the rest of the batch; they will be claimed again",
				zap.Int("left", len(ds)-i))
			return false, nil
		}
		w.deliver(ctx, dl)
	}
	return len(ds) >= w.set.batch, nil
}

func (w *sinkLoop) deliver(ctx context.Context, dl store.Delivery) {
	log := w.log.With(zap.Int64("delivery", dl.ID), zap.Int64("alert", dl.AlertID), zap.Int("attempts", dl.Attempts))
	ev, err := w.event(ctx, dl)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrNotFound) {
			// Alerts are never deleted; if this one is gone, keep the
			// delivery visible (pending count, last error) rather than
			// drop it.
			log.Error("alert of a delivery not found; retrying at max backoff", zap.Error(err))
			w.retry(ctx, dl, w.set.maxBackoff, err, log)
			return
		}
		log.Warn("loading the alert failed", zap.Error(err))
		w.retry(ctx, dl, w.backoff(dl.Attempts), err, log)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, w.set.timeout)
	start := time.Now()
	err = w.s.Deliver(dctx, ev)
	took := time.Since(start)
	cancel()
	if w.d.OnResult != nil && (err == nil || ctx.Err() == nil) { // not the cut-off at shutdown
		w.d.OnResult(w.s.Name(), err == nil, took)
	}
	if err == nil {
		bctx, cancel := bookkeeping(ctx)
		defer cancel()
		if err := w.d.Store.CompleteDelivery(bctx, dl.ID); err != nil {
			// It will be delivered again after the lease: a duplicate,
			// not a loss.
			log.Error("delivered but marking the delivery done failed", zap.Error(err))
			return
		}
		log.Debug("delivered", zap.Duration("took", took))
		return
	}
	if ctx.Err() != nil {
		return // stopping: the claim runs out and it is retried
	}
	if errors.Is(err, ErrPermanent) {
		log.Error("sink refused the alert; retrying at max backoff until the receiver accepts it",
			zap.Error(err), zap.Duration("retry_in", w.set.maxBackoff))
		w.retry(ctx, dl, w.set.maxBackoff, err, log)
		return
	}
	next := w.backoff(dl.Attempts)
	log.Warn("delivery failed; will retry", zap.Error(err), zap.Duration("retry_in", next))
	w.retry(ctx, dl, next, err, log)
}

func (w *sinkLoop) retry(ctx context.Context, dl store.Delivery, after time.Duration, cause error, log *zap.Logger) {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	if err := w.d.Store.RetryDelivery(bctx, dl.ID, w.set.now().Add(after), truncate(cause.Error(), 1000)); err != nil {
		log.Error("scheduling the retry failed; the delivery comes back when its lease runs out", zap.Error(err))
	}
}

// bookkeeping is a context for recording an outcome: it survives the
// cancellation of ctx but not forever.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

// backoff is the delay before the next attempt after the given number
// of attempts (as the store counts them: each claim is one, this one
// included): MinBackoff·2^(attempts-1), capped at MaxBackoff, with
// "equal jitter" (a uniformly random value between half and all of
// it), so that deliveries failing together do not retry in lockstep.
func (w *sinkLoop) backoff(attempts int) time.Duration {
	d := w.set.minBackoff
	for i := 1; i < attempts && d < w.set.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.set.maxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// event loads what one delivery needs: the alert and its members'
// devices (missing ones are skipped; a failing lookup only costs the
// detail of that member).
func (w *sinkLoop) event(ctx context.Context, dl store.Delivery) (Event, error) {
	a, err := w.d.Store.GetAlert(ctx, dl.AlertID)
	if err != nil {
		return Event{}, fmt.Errorf("get alert %d: %w", dl.AlertID, err)
	}
	ev := Event{Event: dl.Event, Alert: a, Collector: w.d.Collector}
	if ev.Event == "" {
		ev.Event = EventUpdated
	}
	if base := strings.TrimRight(w.d.ConsoleURL, "/"); base != "" {
		ev.ConsoleURL = base + "/alerts/" + strconv.FormatInt(a.ID, 10)
	}
	for _, id := range a.Members {
		dev, err := w.d.Store.GetDevice(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return Event{}, ctx.Err()
			}
			if !errors.Is(err, store.ErrNotFound) {
				w.log.Warn("loading a member device failed; sending the alert without its details",
					zap.String("device", id), zap.Error(err))
			}
			continue
		}
		ev.Devices = append(ev.Devices, dev)
	}
	return ev, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

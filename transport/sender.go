package transport

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// Sender delivers the queue's envelopes to the collector in batches and
// removes them once the collector answered stored or duplicate (at-least-
// once: a crash between delivery and removal re-sends, and the collector
// dedupes on (device_id, seq)). An envelope the collector rejects for
// good (bad schema, bad signature) is removed and logged, so it cannot
// block the queue. Network errors, 5xx and 429 are retried with
// exponential backoff and full jitter, honouring Retry-After.
type Sender struct {
	Client *Client
	Queue  *Queue
	Log    *zap.Logger
	// BatchSize and MaxBatchBytes bound one request (defaults 100 and
	// 2 MiB).
	BatchSize     int
	MaxBatchBytes int
	// MinBackoff and MaxBackoff bound retry waits (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// OnPolicyVersion is called with the policy version the collector
	// announces in each answer.
	OnPolicyVersion func(string)
	// OnResult is called after every attempt: the envelopes delivered and
	// the error (nil on success).
	OnResult func(delivered int, err error)

	// size is the current batch size: halved after the collector refused
	// a batch as malformed or too large, back to BatchSize after a success.
	size int
}

func (s *Sender) defaults() {
	if s.BatchSize <= 0 {
		s.BatchSize = 100
	}
	if s.MaxBatchBytes <= 0 {
		s.MaxBatchBytes = 2 << 20
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 5 * time.Minute
	}
	if s.Log == nil {
		s.Log = zap.NewNop()
	}
}

// ErrPermanent wraps a refusal that retrying cannot fix (revoked device,
// unknown device, certificate refused).
var ErrPermanent = errors.New("the collector refuses this device")

// deliverOnce sends one batch; it returns how many envelopes left the
// queue and whether the queue is now empty.
func (s *Sender) deliverOnce(ctx context.Context) (int, bool, error) {
	if s.size <= 0 {
		s.size = s.BatchSize
	}
	items, err := s.Queue.Peek(s.size, s.MaxBatchBytes)
	if err != nil {
		return 0, false, err
	}
	if len(items) == 0 {
		return 0, true, nil
	}
	envs := make([]json.RawMessage, len(items))
	for i, it := range items {
		envs[i] = it.Data
	}
	resp, err := s.Client.Send(ctx, envs)
	if s.OnResult != nil {
		defer func() { s.OnResult(len(items), err) }()
	}
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) && !he.Temporary() && he.Status != 413 && he.Status != 400 {
			err = errors.Join(ErrPermanent, err)
		}
		if errors.As(err, &he) && (he.Status == 413 || he.Status == 400) && len(items) > 1 {
			// Let the next attempts isolate the bad or large envelope.
			s.size = max(1, len(items)/2)
		}
		if errors.As(err, &he) && (he.Status == 413 || he.Status == 400) && len(items) == 1 {
			s.Log.Error("envelope refused by the collector; removed from the queue", zap.Uint64("queue_id", items[0].ID), zap.Error(err))
			return 1, false, s.Queue.Ack(items[0].ID)
		}
		return 0, false, err
	}
	ids := make([]uint64, 0, len(items))
	for _, r := range resp.Results {
		if r.Index < 0 || r.Index >= len(items) {
			continue
		}
		if r.Status == StatusRejected {
			s.Log.Error("report rejected by the collector; removed from the queue", zap.Uint64("seq", r.Seq), zap.String("reason", r.Reason))
		}
		ids = append(ids, items[r.Index].ID)
	}
	if err := s.Queue.Ack(ids...); err != nil {
		return 0, false, err
	}
	s.size = s.BatchSize
	if s.OnPolicyVersion != nil && resp.PolicyVersion != "" {
		s.OnPolicyVersion(resp.PolicyVersion)
	}
	return len(ids), false, nil
}

// backoff returns the wait before retry number n (0-based).
func (s *Sender) backoff(n int, err error) time.Duration {
	d := s.MinBackoff << min(n, 20)
	if d <= 0 || d > s.MaxBackoff {
		d = s.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	var he *HTTPError
	if errors.As(err, &he) && he.RetryAfter > d {
		d = he.RetryAfter
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Flush delivers until the queue is empty, retrying transient failures,
// and returns how many envelopes were delivered. It stops with an error
// wrapping ErrPermanent on a refusal of the device, or when ctx ends.
func (s *Sender) Flush(ctx context.Context) (int, error) {
	s.defaults()
	total, failures := 0, 0
	for {
		n, empty, err := s.deliverOnce(ctx)
		total += n
		switch {
		case err == nil && empty:
			return total, nil
		case err == nil:
			failures = 0
			continue
		case errors.Is(err, ErrPermanent), ctx.Err() != nil:
			return total, err
		}
		wait := s.backoff(failures, err)
		failures++
		s.Log.Warn("delivery failed; will retry", zap.Error(err), zap.Duration("retry_in", wait))
		if err := sleep(ctx, wait); err != nil {
			return total, err
		}
	}
}

// Run delivers whenever the queue has records, until ctx ends. A refusal
// of the device (ErrPermanent) is retried at the longest backoff: a
// revocation may be lifted by re-enrolling, and the queue keeps the
// evidence meanwhile.
func (s *Sender) Run(ctx context.Context) error {
	s.defaults()
	failures := 0
	for {
		_, err := s.Flush(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			wait := s.MaxBackoff
			if !errors.Is(err, ErrPermanent) {
				wait = s.backoff(failures, err)
			}
			failures++
			s.Log.Error("delivery stopped", zap.Error(err), zap.Duration("retry_in", wait))
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		failures = 0
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.Queue.Ready():
		case <-time.After(time.Minute):
		}
	}
}

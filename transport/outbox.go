package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Outbox turns reports into signed envelopes in the durable queue: it
// stamps the device id, the next sequence number, the boot id and the
// agent version, signs with the device key, and enqueues with the
// report's highest severity as priority (so a full queue drops info and
// low reports first, never high or critical).
//
// A report with a high or critical finding is never dropped: when even
// the queue's hard limit is reached (ErrFull, the collector unreachable
// for a long time) its signed envelope is held in memory and enqueued
// before the next report, up to MaxHeld envelopes.
type Outbox struct {
	Key          DeviceKey
	Queue        *Queue
	Seq          *SeqCounter
	BootID       string
	AgentVersion string
	Now          func() time.Time

	mu   sync.Mutex
	held []heldEnvelope
}

// MaxHeld bounds the envelopes held in memory while the queue is full.
const MaxHeld = 1000

type heldEnvelope struct {
	prio uint8
	data []byte
}

// ErrHeldFull is returned when the queue is full and MaxHeld envelopes are
// already waiting in memory: the report is lost, and the error says so.
var ErrHeldFull = errors.New("outbox: the queue is full and the in-memory overflow too")

// NewBootID returns a random id for this run of the agent.
func NewBootID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Submit stamps, signs and durably enqueues r. When the queue drops the
// report (ErrDropped: it had the lowest priority when full; counted by the
// queue) the error says so. When the queue is at its hard limit (ErrFull)
// the envelope is held in memory and Submit returns the sequence number
// with ErrFull wrapped, so the caller can tell it is not durable yet.
func (o *Outbox) Submit(ctx context.Context, r *Report) (uint64, error) {
	if err := o.FlushHeld(ctx); err != nil && !errors.Is(err, ErrFull) {
		return 0, err
	}
	seq, err := o.Seq.Next()
	if err != nil {
		return 0, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r.Schema, r.DeviceID, r.Seq, r.BootID, r.AgentVersion = ReportSchema, o.Key.DeviceID(), seq, o.BootID, o.AgentVersion
	if r.SentAt.IsZero() {
		r.SentAt = now().UTC().Truncate(time.Millisecond)
	}
	if r.Findings == nil {
		r.Findings = []detectors.Finding{}
	}
	r.Context.Queue = o.queueContext()
	if err := r.Validate(); err != nil {
		return 0, fmt.Errorf("outbox: report %d: %w", seq, err)
	}
	env, err := SignReport(ctx, o.Key, r)
	if err != nil {
		return 0, err
	}
	data, err := json.Marshal(env)
	if err != nil {
		return 0, err
	}
	prio := uint8(r.MaxSeverity())
	_, err = o.Queue.Enqueue(ctx, prio, data)
	if errors.Is(err, ErrFull) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if len(o.held) >= MaxHeld {
			return 0, fmt.Errorf("outbox: report %d: %w", seq, ErrHeldFull)
		}
		o.held = append(o.held, heldEnvelope{prio, data})
		return seq, fmt.Errorf("outbox: report %d held in memory: %w", seq, err)
	}
	if err != nil {
		return 0, fmt.Errorf("outbox: report %d: %w", seq, err)
	}
	return seq, nil
}

// Held is the number of envelopes waiting in memory for queue room.
func (o *Outbox) Held() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.held)
}

// FlushHeld moves held envelopes into the queue while it has room.
func (o *Outbox) FlushHeld(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.held) > 0 {
		h := o.held[0]
		if _, err := o.Queue.Enqueue(ctx, h.prio, h.data); err != nil {
			return err
		}
		o.held = o.held[1:]
	}
	return nil
}

func (o *Outbox) queueContext() QueueContext {
	st := o.Queue.Stats()
	return QueueContext{Depth: st.Depth, Drops: st.Drops}
}

// IsQueueRefusal reports whether err is the queue refusing a report for
// lack of room: dropped and counted (ErrDropped), or held in memory until
// there is room (ErrFull). Neither is a malfunction of the agent.
func IsQueueRefusal(err error) bool {
	return errors.Is(err, ErrDropped) || errors.Is(err, ErrFull)
}

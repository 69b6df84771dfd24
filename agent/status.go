package agent

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/farmwatch/farmwatch/agent/localapi"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// statusBook keeps what the local status API tells about the agent: the
// last check's outcome and the last delivery's. It is written by the run
// loop and the sender and read by the API's handlers, so every access
// holds its lock; what it hands out are copies.
type statusBook struct {
	mu        sync.Mutex
	startedAt time.Time
	// server is the collector URL, captured when serving starts (the
	// enrollment record is rewritten by certificate renewal).
	server string

	lastCheck    time.Time
	nextCheck    time.Time
	lastCheckErr string
	findings     []detectors.Finding
	runs         []detectors.RunResult

	lastAttempt, lastDelivery time.Time
	lastDeliveryErr           string
	refused                   bool
}

// recordCheck notes a check's outcome: every check passes through
// CheckDetectors, which calls it. A check that produced a result whose
// report could not be queued keeps its findings and its error.
func (b *statusBook) recordCheck(at time.Time, res *ScanResult, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastCheck = at
	b.lastCheckErr = ""
	if err != nil {
		b.lastCheckErr = err.Error()
	}
	if res != nil {
		b.findings = slices.Clone(res.Findings)
		b.runs = slices.Clone(res.Detectors)
	}
}

// recordNextCheck notes when the run loop plans the next check.
func (b *statusBook) recordNextCheck(at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextCheck = at
}

// recordDelivery notes a delivery attempt (transport.Sender.OnResult).
// The end of delivery at shutdown (a cancelled context) is no attempt.
func (b *statusBook) recordDelivery(at time.Time, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastAttempt = at
	b.lastDeliveryErr, b.refused = "", false
	if err != nil {
		b.lastDeliveryErr = err.Error()
		b.refused = errors.Is(err, transport.ErrPermanent)
		return
	}
	b.lastDelivery = at
}

// Facts is what the local API serves about this agent (localapi.Source).
// It never includes secrets: no key, fleet key or token.
func (a *Agent) Facts() localapi.Facts {
	enabled := a.enabledDetectors()
	f := localapi.Facts{AgentVersion: Version, Enrolled: true, DeviceID: a.DeviceID()}
	for _, i := range detectors.Registered() {
		f.Detectors = append(f.Detectors, localapi.DetectorFacts{Name: i.Name, Description: i.Description, Enabled: slices.Contains(enabled, i.Name)})
	}
	qs := a.queue.Stats()
	f.Queue = localapi.Queue{Depth: qs.Depth, Bytes: qs.Bytes, Recovered: qs.Recovered, SkippedBytes: qs.Skipped}
	for _, d := range qs.Drops {
		f.Queue.Dropped += d
	}
	b := &a.status
	b.mu.Lock()
	defer b.mu.Unlock()
	f.StartedAt, f.Server = b.startedAt, b.server
	f.LastCheck, f.NextCheck, f.LastCheckError = b.lastCheck, b.nextCheck, b.lastCheckErr
	f.Findings, f.Runs = slices.Clone(b.findings), slices.Clone(b.runs)
	f.LastAttempt, f.LastDelivery, f.LastDeliveryError, f.Refused = b.lastAttempt, b.lastDelivery, b.lastDeliveryErr, b.refused
	return f
}

// notEnrolled is the local API's source while the device is not enrolled
// (see ServeNotEnrolled): it says so, and cannot check.
type notEnrolled struct {
	reason    string
	startedAt time.Time
}

func (n notEnrolled) Facts() localapi.Facts {
	f := localapi.Facts{AgentVersion: Version, StartedAt: n.startedAt, NotEnrolled: n.reason}
	for _, i := range detectors.Registered() {
		f.Detectors = append(f.Detectors, localapi.DetectorFacts{Name: i.Name, Description: i.Description, Enabled: true})
	}
	return f
}

func (notEnrolled) RequestCheck(string) {}

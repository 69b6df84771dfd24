package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// QueueDirName is the outbound queue's directory in the state directory.
const QueueDirName = "queue"

// Agent is an enrolled agent: it scans, signs reports into the durable
// queue, and delivers them to the collector, applying the fleet policy
// the collector serves.
type Agent struct {
	Config Config
	Log    *zap.Logger
	// Host returns the host to observe; default detectors.SystemHost.
	Host func(*zap.Logger) *detectors.Host
	Now  func() time.Time

	state  *transport.State
	client *transport.Client
	queue  *transport.Queue
	outbox *transport.Outbox
	sender *transport.Sender

	mu      sync.Mutex
	policy  *transport.PolicyDoc
	events  []transport.AgentEvent
	latestV string // policy version the collector announced

	services detectorServices
	// checkNow asks the run loop for a check before its schedule; see
	// RequestCheck.
	checkNow chan string
}

// OpenAgent loads the enrollment of cfg.StateDir and opens the queue.
func OpenAgent(cfg Config, log *zap.Logger) (*Agent, error) {
	st, err := transport.LoadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	q, err := transport.OpenQueue(transport.QueueOptions{Dir: filepath.Join(cfg.StateDir, QueueDirName), MaxBytes: int64(cfg.Queue.MaxBytes), Log: log.Named("queue")})
	if err != nil {
		return nil, err
	}
	seq, err := transport.OpenSeqCounter(cfg.StateDir)
	if err != nil {
		q.Close()
		return nil, err
	}
	a := &Agent{Config: cfg, Log: log, Host: detectors.SystemHost, Now: time.Now, state: st, queue: q, checkNow: make(chan string, 1)}
	a.client = transport.NewClient(st, log.Named("client"))
	a.outbox = &transport.Outbox{Key: st.Key, Queue: q, Seq: seq, BootID: transport.NewBootID(), AgentVersion: Version, Now: func() time.Time { return a.Now() }}
	a.sender = &transport.Sender{Client: a.client, Queue: q, Log: log.Named("sender"), OnPolicyVersion: a.announced}
	if st := q.Stats(); st.Recovered > 0 || st.Skipped > 0 {
		a.event("queue_recovered", fmt.Sprintf("the queue was damaged; %d records salvaged, %d bytes skipped", st.Recovered, st.Skipped))
	}
	pol, err := transport.LoadPolicy(cfg.StateDir)
	if err != nil {
		log.Warn("last fleet policy unreadable; running without it until the collector sends one", zap.Error(err))
	} else if pol != nil {
		if err := a.checkPolicy(pol); err != nil {
			log.Warn("stored fleet policy refused", zap.Error(err))
		} else {
			a.policy = pol
		}
	}
	return a, nil
}

// Close releases the queue and connections.
func (a *Agent) Close() error {
	a.client.Close()
	return a.queue.Close()
}

// Server is the collector URL the agent reports to.
func (a *Agent) Server() string { return a.state.Enrollment.Server }

// DeviceID is the enrolled device id.
func (a *Agent) DeviceID() string { return a.state.Key.DeviceID() }

// PolicyVersion is the fleet policy version in force, "" if none.
func (a *Agent) PolicyVersion() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.policy == nil {
		return ""
	}
	return a.policy.Version
}

func (a *Agent) announced(v string) {
	a.mu.Lock()
	a.latestV = v
	a.mu.Unlock()
}

func (a *Agent) event(kind, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, transport.AgentEvent{At: a.Now().UTC(), Kind: kind, Message: msg})
	if len(a.events) > 50 {
		a.events = a.events[len(a.events)-50:]
	}
}

// checkPolicy validates a fleet policy the way it will be used: its
// version is its content hash, its durations are sane, and every
// detector section decodes with its detector.
func (a *Agent) checkPolicy(doc *transport.PolicyDoc) error {
	if err := doc.Policy.Validate(); err != nil {
		return err
	}
	v, err := transport.PolicyVersion(doc.Policy)
	if err != nil {
		return err
	}
	if v != doc.Version {
		return fmt.Errorf("policy version %q does not match its content (%s)", doc.Version, v)
	}
	for _, n := range doc.Policy.Detectors {
		if _, ok := detectors.Lookup(n); !ok {
			return fmt.Errorf("policy names unknown detector %q", n)
		}
	}
	for n, raw := range doc.Policy.Settings {
		info, ok := detectors.Lookup(n)
		if !ok {
			return fmt.Errorf("policy has settings for unknown detector %q", n)
		}
		if _, err := info.New().DecodePolicy(raw); err != nil {
			return fmt.Errorf("policy settings.%s: %w", n, err)
		}
	}
	return nil
}

// RefreshPolicy fetches the fleet policy when the collector has another
// version than the one in force. A policy that does not validate is
// refused (logged, recorded as an event) and the last good one kept.
func (a *Agent) RefreshPolicy(ctx context.Context) error {
	have := a.PolicyVersion()
	doc, err := a.client.FetchPolicy(ctx, have)
	if err != nil || doc == nil {
		return err
	}
	if err := a.checkPolicy(doc); err != nil {
		a.Log.Error("fleet policy refused; keeping the last good one", zap.String("version", doc.Version), zap.String("kept", have), zap.Error(err))
		a.event("policy_refused", fmt.Sprintf("policy %s refused: %v", doc.Version, err))
		return nil
	}
	if err := transport.SavePolicy(a.Config.StateDir, doc); err != nil {
		return err
	}
	a.mu.Lock()
	a.policy = doc
	a.mu.Unlock()
	a.applyServicePolicies()
	a.Log.Info("fleet policy applied", zap.String("version", doc.Version), zap.String("previous", have))
	return nil
}

// Policy returns the fleet policy in force (nil if none).
func (a *Agent) Policy() *transport.PolicyDoc {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.policy
}

// scanner applies the fleet policy over the local configuration: its
// detector list and settings sections win.
func (a *Agent) scanner() *Scanner {
	s := &Scanner{Config: a.Config, Log: a.Log}
	if p := a.Policy(); p != nil {
		if len(p.Policy.Detectors) > 0 {
			s.Config.Detectors.Enabled = p.Policy.Detectors
		}
		s.PolicyOverride = p.Policy.Settings
	}
	return s
}

// Check runs one check cycle: scan (or, when snap is not nil, evaluate
// that recorded snapshot instead of the live host), then sign and enqueue
// the report.
func (a *Agent) Check(ctx context.Context, snap *detectors.Snapshot) (*ScanResult, error) {
	var (
		res *ScanResult
		err error
	)
	if snap != nil {
		res, err = a.scanner().ScanSnapshot(snap)
	} else {
		res, err = a.scanner().Scan(ctx, a.host())
	}
	if err != nil {
		return nil, err
	}
	r := &transport.Report{Kind: transport.KindScan, Findings: res.Findings, Context: a.context(res)}
	if _, err := a.submit(ctx, r); err != nil {
		return res, err
	}
	return res, nil
}

// Heartbeat enqueues a heartbeat report.
func (a *Agent) Heartbeat(ctx context.Context) error {
	_, err := a.submit(ctx, &transport.Report{Kind: transport.KindHeartbeat, Context: a.context(nil)})
	return err
}

// Stopping enqueues a "stopping" report and tries to deliver it within
// ctx, so the collector can tell a stop from a disappearance.
func (a *Agent) Stopping(ctx context.Context) error {
	if _, err := a.submit(ctx, &transport.Report{Kind: transport.KindStopping, Context: a.context(nil)}); err != nil {
		return err
	}
	_, err := a.Deliver(ctx)
	return err
}

func (a *Agent) submit(ctx context.Context, r *transport.Report) (uint64, error) {
	r.PolicyVersion = a.PolicyVersion()
	a.mu.Lock()
	r.Context.Events, a.events = a.events, nil
	a.mu.Unlock()
	seq, err := a.outbox.Submit(ctx, r)
	if err != nil && !errors.Is(err, transport.ErrFull) {
		// Not queued and not held: the events go with the next report.
		a.mu.Lock()
		a.events = append(r.Context.Events, a.events...)
		a.mu.Unlock()
		return 0, err
	}
	return seq, nil
}

// context describes the device for a report.
func (a *Agent) context(res *ScanResult) transport.ReportContext {
	host, _ := os.Hostname()
	c := transport.ReportContext{Host: transport.HostContext{OS: runtime.GOOS, Arch: runtime.GOARCH, Hostname: host}}
	if res == nil {
		return c
	}
	c.Host.OS, c.Host.Arch = res.Host.OS, res.Host.Arch
	if res.Host.Hostname != "" {
		c.Host.Hostname = res.Host.Hostname
	}
	for _, d := range res.Detectors {
		c.Detectors = append(c.Detectors, transport.DetectorHealth{Name: d.Name, Status: string(d.Status), Error: d.Error, DurationMS: d.DurationMS})
	}
	c.Network.KVMSerials = KVMIdentities(res.Findings, a.state.FleetKey)
	contributeContext(&c, res.Observations, a.state.FleetKey)
	return c
}

// contributeContext copies what the observations contribute into the
// report context, hashing network identifiers with the fleet key.
func contributeContext(c *transport.ReportContext, obs map[string]detectors.Observation, fleetKey []byte) {
	var raw detectors.ReportContext
	names := make([]string, 0, len(obs))
	for n := range obs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if co, ok := obs[n].(detectors.Contributor); ok {
			co.Contribute(&raw)
		}
	}
	if raw.GatewayMAC != "" {
		c.Network.GatewayHash = transport.HashIdentifier(fleetKey, "gateway_mac", raw.GatewayMAC)
	}
	for _, b := range raw.BSSIDs {
		c.Network.BSSIDHashes = append(c.Network.BSSIDHashes, transport.HashIdentifier(fleetKey, "bssid", b))
	}
	sort.Strings(c.Network.BSSIDHashes)
	c.Network.BSSIDHashes = slices.Compact(c.Network.BSSIDHashes)
	if raw.SSID != "" {
		c.Network.SSIDHash = transport.HashIdentifier(fleetKey, "ssid", raw.SSID)
	}
	for _, p := range raw.Peers {
		c.Network.Peers = append(c.Network.Peers, transport.PeerHeard{DeviceID: p.DeviceID, Via: p.Via, At: p.At.UTC()})
	}
	c.Network.Beacons = raw.Beacons
	c.Geo = raw.Geo
}

// KVMIdentities are keyed hashes of the identities of KVM hardware found
// (USB vendor, product and serial; EDID fingerprint), so the collector
// can see the same device or cloned EDID on several laptops.
func KVMIdentities(fs []detectors.Finding, fleetKey []byte) []string {
	seen := map[string]bool{}
	for _, f := range fs {
		if f.Detector != "kvm" {
			continue
		}
		str := func(k string) string { s, _ := f.Evidence[k].(string); return s }
		if fp := str("edid_fingerprint"); fp != "" {
			seen[transport.HashIdentifier(fleetKey, "edid", fp)] = true
		}
		if serial := str("usb_serial"); serial != "" {
			seen[transport.HashIdentifier(fleetKey, "usb", str("usb_vendor_id")+":"+str("usb_product_id")+":"+serial)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for h := range seen {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Deliver sends everything queued, and then what the outbox held in
// memory while the queue was full, retrying transient failures until ctx
// ends; it returns how many reports the collector acknowledged.
func (a *Agent) Deliver(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := a.sender.Flush(ctx)
		total += n
		if err != nil || a.outbox.Held() == 0 {
			return total, err
		}
		if err := a.outbox.FlushHeld(ctx); err != nil && !errors.Is(err, transport.ErrFull) {
			return total, err
		}
	}
}

// RenewIfDue renews the client certificate at two thirds of its lifetime.
func (a *Agent) RenewIfDue(ctx context.Context) error {
	if !a.client.NeedsRenewal(a.Now()) {
		return nil
	}
	return a.client.Renew(ctx)
}

// RunOnce runs one cycle and waits until the collector acknowledged
// everything queued: refresh the policy, renew if due, check (the live
// host, or snap when not nil), deliver.
func (a *Agent) RunOnce(ctx context.Context, snap *detectors.Snapshot) (*ScanResult, int, error) {
	if err := a.RenewIfDue(ctx); err != nil {
		a.Log.Warn("certificate renewal failed; will retry", zap.Error(err))
	}
	if err := a.RefreshPolicy(ctx); err != nil {
		a.Log.Warn("fleet policy not refreshed; using the last good one", zap.Error(err))
	}
	res, err := a.Check(ctx, snap)
	if err != nil && !transport.IsQueueRefusal(err) {
		return res, 0, err
	}
	n, derr := a.Deliver(ctx)
	return res, n, errors.Join(err, derr)
}

// Run loops until ctx ends: a check every scan interval (with up to 10 %
// jitter), a heartbeat when nothing was sent for the heartbeat interval,
// continuous delivery, policy refresh when the collector announces a new
// version, and certificate renewal when due. On return it sends a
// "stopping" report when the network allows.
func (a *Agent) Run(ctx context.Context) error {
	// The sender runs until ctx ends (it retries every failure itself).
	senderDone := make(chan error, 1)
	sctx, stopSender := context.WithCancel(ctx)
	go func() { senderDone <- a.sender.Run(sctx) }()
	a.startServices(sctx)
	defer func() {
		stopSender()
		<-senderDone
		a.waitServices()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Stopping(stop); err != nil {
			a.Log.Warn("stopping report not delivered (it stays queued)", zap.Error(err))
		}
	}()
	lastSent := time.Time{}
	nextCheck := a.Now()
	for {
		now := a.Now()
		scan, hb := a.intervals()
		switch {
		case !now.Before(nextCheck):
			if err := a.RenewIfDue(ctx); err != nil {
				a.Log.Warn("certificate renewal failed; will retry", zap.Error(err))
			}
			if err := a.RefreshPolicy(ctx); err != nil {
				a.Log.Warn("fleet policy not refreshed", zap.Error(err))
			}
			if _, err := a.Check(ctx, nil); err != nil {
				a.Log.Error("check failed", zap.Error(err))
			} else {
				lastSent = now
			}
			nextCheck = now.Add(scan + jitter(scan/10))
		case now.Sub(lastSent) >= hb:
			if err := a.Heartbeat(ctx); err != nil {
				a.Log.Error("heartbeat not queued", zap.Error(err))
			}
			lastSent = now
		}
		a.mu.Lock()
		stale := a.latestV != "" && a.policy != nil && a.latestV != a.policy.Version || a.latestV != "" && a.policy == nil
		a.mu.Unlock()
		if stale {
			if err := a.RefreshPolicy(ctx); err != nil {
				a.Log.Warn("fleet policy not refreshed", zap.Error(err))
			}
		}
		wait := min(nextCheck.Sub(a.Now()), lastSent.Add(hb).Sub(a.Now()), time.Minute)
		select {
		case <-ctx.Done():
			return nil
		case reason := <-a.checkNow:
			a.Log.Info("check requested", zap.String("reason", reason))
			nextCheck = a.Now()
		case <-time.After(max(wait, time.Second)):
		}
	}
}

// RequestCheck asks the run loop for a check now (a person asked through
// the local API, the machine woke up, the network changed). Requests made
// while one is pending are merged.
func (a *Agent) RequestCheck(reason string) {
	select {
	case a.checkNow <- reason:
	default:
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

func (a *Agent) intervals() (scan, heartbeat time.Duration) {
	if p := a.Policy(); p != nil {
		return p.Policy.Intervals()
	}
	var empty transport.FleetPolicy
	return empty.Intervals()
}

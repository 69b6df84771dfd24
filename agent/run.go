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

	// After is the run loop's timer (default time.After); tests give it
	// and Now a fake clock.
	After func(time.Duration) <-chan time.Time
	// Usage samples the agent's own resource use for the watchdog
	// (default SelfUsage).
	Usage UsageSampler
	// watch polls the re-check triggers (nil: the real host's, made by
	// Run when Config.Schedule.Triggers is on).
	watch *triggerWatch
	// lastRun holds each detector's latest results (see check).
	lastRun map[string]detectorRun
	// status keeps what the local status API tells (status.go).
	status statusBook
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
	a.syncServices()
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

// Check runs one full check cycle: scan every enabled detector (or, when
// snap is not nil, evaluate that recorded snapshot instead of the live
// host), then sign and enqueue the report.
func (a *Agent) Check(ctx context.Context, snap *detectors.Snapshot) (*ScanResult, error) {
	return a.CheckDetectors(ctx, snap, nil)
}

// CheckDetectors is the one path every check takes (the run loop's
// scheduled and triggered checks, RunOnce, Check): observe the detectors
// named in only (nil: every enabled one), merge their fresh results with
// the latest results of the other enabled detectors, so the report is the
// device's whole current state, then sign and enqueue it.
func (a *Agent) CheckDetectors(ctx context.Context, snap *detectors.Snapshot, only []string) (*ScanResult, error) {
	var (
		res *ScanResult
		err error
	)
	defer func() { a.status.recordCheck(a.Now().UTC(), res, err) }() // for the local status API (status.go)
	sc := a.scanner()
	sc.Only = only
	if snap != nil {
		res, err = sc.ScanSnapshot(snap)
	} else {
		res, err = sc.Scan(ctx, a.host())
	}
	if err != nil {
		return nil, err
	}
	res = a.mergeLast(res)
	r := &transport.Report{Kind: transport.KindScan, Findings: res.Findings, Context: a.context(res)}
	if _, err = a.submit(ctx, r); err != nil {
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
		c.Detectors = append(c.Detectors, transport.DetectorHealth{Name: d.Name, Status: string(d.Status), Error: d.Error, DurationMS: d.DurationMS, RanAt: a.ranAt(d.Name)})
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

// Run loops until ctx ends: each enabled detector is checked on its own
// interval with jitter (schedule.go), earlier after a trigger (wake from
// sleep, network or USB/display change, RequestCheck; triggers.go), every
// report carrying all detectors' latest results; a heartbeat goes out when
// nothing was sent for the heartbeat interval; delivery is continuous; the
// fleet policy is refreshed when the collector announces a new version;
// the certificate is renewed when due; the watchdog keeps the agent light
// (watchdog.go). On return it sends a "stopping" report when the network
// allows.
func (a *Agent) Run(ctx context.Context) error {
	after := a.After
	if after == nil {
		after = time.After
	}
	cfg := a.Config.Schedule
	// The sender runs until ctx ends (it retries every failure itself).
	senderDone := make(chan error, 1)
	sctx, stopSender := context.WithCancel(ctx)
	go func() { senderDone <- a.sender.Run(sctx) }()
	a.startServices(sctx)

	var helpers sync.WaitGroup
	triggers := make(chan Trigger, 8)
	if cfg.Triggers {
		w := a.watch
		if w == nil {
			w = newTriggerWatch(a.Log.Named("triggers"))
		}
		helpers.Go(func() {
			w.run(sctx, time.Duration(cfg.PollInterval), after, func(t Trigger) {
				select {
				case triggers <- t:
				default: // the loop is busy with earlier triggers; they merge anyway
				}
			})
		})
	}
	shed := make(chan struct{}, 1)
	usage := a.Usage
	if usage == nil {
		usage = SelfUsage()
	}
	wd := &watchdog{
		cfg: a.Config.Watchdog, sample: usage, log: a.Log.Named("watchdog"), event: a.event, relieve: freeOSMemory,
		shed: func() {
			select {
			case shed <- struct{}{}:
			default:
			}
		},
	}
	helpers.Go(func() { wd.run(sctx, a.Now, after) })

	defer func() {
		stopSender()
		<-senderDone
		helpers.Wait()
		a.waitServices()
		stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Stopping(stop); err != nil {
			a.Log.Warn("stopping report not delivered (it stays queued)", zap.Error(err))
		}
	}()

	sched := newSchedule(cfg, jitter)
	lastSent := time.Time{}
	for {
		now := a.Now()
		_, hb := a.intervals()
		sched.setFleet(a.fleetScan())
		enabled := a.enabledDetectors()
		if due, why := sched.due(now, enabled); len(due) > 0 {
			if err := a.RenewIfDue(ctx); err != nil {
				a.Log.Warn("certificate renewal failed; will retry", zap.Error(err))
			}
			if err := a.RefreshPolicy(ctx); err != nil {
				a.Log.Warn("fleet policy not refreshed", zap.Error(err))
			}
			// A new policy may have changed what is enabled.
			due = slices.DeleteFunc(due, func(n string) bool { return !slices.Contains(a.enabledDetectors(), n) })
			a.Log.Debug("checking", zap.Strings("detectors", due), zap.Strings("why", why))
			cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CycleTimeout))
			_, err := a.CheckDetectors(cctx, nil, due)
			cancel()
			if err != nil {
				a.Log.Error("check failed", zap.Error(err))
			} else {
				lastSent = now
			}
			sched.ran(due, now)
		} else if now.Sub(lastSent) >= hb {
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
		now = a.Now()
		sched.setFleet(a.fleetScan()) // a policy fetched in this pass applies at once
		next := sched.wake(now, enabled)
		a.status.recordNextCheck(next)
		wait := min(next.Sub(now), lastSent.Add(hb).Sub(now), time.Minute)
		select {
		case <-ctx.Done():
			return nil
		case reason := <-a.checkNow:
			a.Log.Info("check requested", zap.String("reason", reason))
			sched.trigger(Trigger{Reason: TriggerRequest, Immediate: true}, a.Now(), enabled)
		case t := <-triggers:
			sched.trigger(t, a.Now(), enabled)
		case <-shed:
			sched.shedNext()
		case <-after(max(wait, time.Second)):
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

// fleetScan returns the fleet scan interval and whether the policy sets
// it explicitly.
func (a *Agent) fleetScan() (time.Duration, bool) {
	scan, _ := a.intervals()
	p := a.Policy()
	return scan, p != nil && p.Policy.ScanInterval != ""
}

func (a *Agent) intervals() (scan, heartbeat time.Duration) {
	if p := a.Policy(); p != nil {
		return p.Policy.Intervals()
	}
	var empty transport.FleetPolicy
	return empty.Intervals()
}

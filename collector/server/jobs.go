package server

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/correlate"
	"github.com/farmwatch/farmwatch/collector/store"
)

// minCorrelationGap spaces early correlation passes asked for by ingest.
const minCorrelationGap = 3 * time.Second

// jobs runs fleet correlation every correlation.interval (with jitter so
// nodes do not collide), and early when ingest sees a device on a new
// network (at most every minCorrelationGap), until ctx ends.
func (s *Server) jobs(ctx context.Context) {
	interval := time.Duration(s.cfg.Correlation.Interval)
	for {
		if _, err := s.Correlate(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("correlation failed", zap.Error(err))
		}
		if err := s.updatePending(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sink queue depth", zap.Error(err))
		}
		wait := interval + time.Duration(rand.Int64N(int64(interval)/10+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		case <-s.kick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(minCorrelationGap):
			}
		}
	}
}

func (s *Server) updatePending(ctx context.Context) error {
	pending, err := s.store.PendingDeliveries(ctx)
	if err != nil {
		return err
	}
	for _, sc := range s.cfg.Sinks {
		s.metrics.SinkPending.WithLabelValues(sc.Name).Set(float64(pending[sc.Name]))
	}
	return nil
}

// CorrelationRun says what one correlation pass did.
type CorrelationRun struct {
	// Ran is false when another node held the lock.
	Ran       bool
	Devices   int
	Alerts    int
	Recovered int
}

// Correlate runs one fleet correlation pass under the cluster lock: it
// raises or updates farm, shared-KVM and silent-device alerts, and
// resolves silent alerts of devices that report again.
func (s *Server) Correlate(ctx context.Context) (CorrelationRun, error) {
	release, ok, err := s.store.TryLock(ctx, "correlate")
	if err != nil || !ok {
		return CorrelationRun{}, err
	}
	defer release()
	start := time.Now()
	defer func() { s.metrics.CorrelateRun.Observe(time.Since(start).Seconds()) }()

	devices, err := s.store.AllDevices(ctx)
	if err != nil {
		return CorrelationRun{}, err
	}
	var open []store.Alert
	for _, kind := range []string{"farm", "silent", "kvm_shared"} {
		for after := ""; ; {
			page, next, err := s.store.ListAlerts(ctx, store.AlertFilter{Kind: kind, Status: []store.AlertStatus{store.AlertNew, store.AlertAcknowledged, store.AlertSuppressed}}, store.Page{Limit: 1000, After: after})
			if err != nil {
				return CorrelationRun{}, err
			}
			open = append(open, page...)
			if next == "" {
				break
			}
			after = next
		}
	}
	now := s.now()
	res := correlate.Correlate(devices, open, s.corrOpts, now)
	run := CorrelationRun{Ran: true, Alerts: len(res.Alerts), Recovered: len(res.Recovered)}
	for _, d := range devices {
		if !d.Revoked {
			run.Devices++
		}
	}
	s.metrics.Devices.Set(float64(run.Devices))
	for _, a := range res.Alerts {
		if err := s.ingest.raise(ctx, a); err != nil {
			return run, err
		}
	}
	resolve := map[int64]string{}
	for _, id := range res.Recovered {
		resolve[id] = "the device reports again"
	}
	// A revoked device's silence is expected: its silent alert closes.
	revoked := map[string]bool{}
	for _, d := range devices {
		revoked[d.ID] = d.Revoked
	}
	for _, a := range open {
		if a.Kind == "silent" && a.Status != store.AlertSuppressed && len(a.Members) == 1 && revoked[a.Members[0]] {
			resolve[a.ID] = "the device was revoked"
		}
	}
	for id, why := range resolve {
		_, err := s.store.SetAlertStatus(ctx, id, store.AlertResolved, why, time.Time{},
			store.AuditEntry{At: now, Actor: "system", Action: "alert.resolve", Target: alertTarget(id), Detail: why})
		if err != nil {
			s.log.Warn("resolve silent alert", zap.Int64("alert_id", id), zap.Error(err))
		}
	}
	return run, nil
}

func alertTarget(id int64) string { return "alert:" + strconv.FormatInt(id, 10) }

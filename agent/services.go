package agent

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
)

// detectorServices runs the long-running parts of the enabled detectors
// (detectors.Info.Service, such as the colocation peer beacon) for as long
// as the agent runs, and hands them to Observe through Host.Services. A
// fleet policy that enables or disables a detector starts or stops its
// service; one that changes its settings hands them over (SetPolicy).
type detectorServices struct {
	mu sync.Mutex
	// ctx is the run loop's; nil until startServices, and services are
	// started only while it is set.
	ctx     context.Context
	running map[string]*runningService
	wg      sync.WaitGroup
}

type runningService struct {
	svc  detectors.Service
	stop context.CancelFunc
}

// startServices starts the service of every enabled detector that has
// one; they stop when ctx ends. A service that cannot start is logged and
// recorded as an agent event; its detector still observes without it.
func (a *Agent) startServices(ctx context.Context) {
	a.services.mu.Lock()
	a.services.ctx = ctx
	a.services.mu.Unlock()
	a.syncServices()
}

// syncServices makes the running services match the enabled detectors
// and their policies: it stops those of detectors no longer enabled,
// hands the others their current policy, and starts the missing ones.
func (a *Agent) syncServices() {
	e, err := a.scanner().engine()
	if err != nil {
		a.Log.Error("detector services not updated", zap.Error(err))
		return
	}
	a.services.mu.Lock()
	defer a.services.mu.Unlock()
	ctx := a.services.ctx
	if ctx == nil || ctx.Err() != nil {
		return
	}
	if a.services.running == nil {
		a.services.running = map[string]*runningService{}
	}
	enabled := map[string]detectors.Detector{}
	for _, d := range e.Detectors {
		enabled[d.Name()] = d
	}
	for name, rs := range a.services.running {
		if _, ok := enabled[name]; !ok {
			a.Log.Info("detector disabled by policy; its service stops", zap.String("detector", name))
			rs.stop()
			delete(a.services.running, name)
		}
	}
	for name := range enabled {
		info, _ := detectors.Lookup(name)
		if info.Service == nil {
			continue
		}
		if rs, ok := a.services.running[name]; ok {
			rs.svc.SetPolicy(e.Policies[name])
			continue
		}
		log := a.Log.Named(name)
		svc, err := info.Service(detectors.ServiceConfig{
			DeviceID: a.DeviceID(), FleetKey: a.state.FleetKey, Policy: e.Policies[name], Log: log, Now: a.Now,
		})
		if err != nil {
			log.Error("detector service not started; the detector observes without it", zap.Error(err))
			a.event("service_failed", fmt.Sprintf("%s service not started: %v", name, err))
			continue
		}
		sctx, stop := context.WithCancel(ctx)
		this := &runningService{svc: svc, stop: stop}
		a.services.running[name] = this
		a.services.wg.Add(1)
		go func() {
			defer a.services.wg.Done()
			defer stop()
			if err := svc.Run(sctx); err != nil && sctx.Err() == nil {
				log.Error("detector service stopped; the detector observes without it", zap.Error(err))
				a.event("service_failed", fmt.Sprintf("%s service stopped: %v", name, err))
			}
			a.services.mu.Lock()
			if a.services.running[name] == this {
				delete(a.services.running, name)
			}
			a.services.mu.Unlock()
		}()
	}
}

// waitServices waits until the services started by startServices return
// (they stop when the run loop's context ends).
func (a *Agent) waitServices() { a.services.wg.Wait() }

// serviceMap returns the running services by detector name.
func (a *Agent) serviceMap() map[string]detectors.Service {
	a.services.mu.Lock()
	defer a.services.mu.Unlock()
	if len(a.services.running) == 0 {
		return nil
	}
	out := make(map[string]detectors.Service, len(a.services.running))
	for name, rs := range a.services.running {
		out[name] = rs.svc
	}
	return out
}

// host returns the host to observe, with the running detector services.
func (a *Agent) host() *detectors.Host {
	h := a.Host(a.Log)
	h.Services = a.serviceMap()
	return h
}

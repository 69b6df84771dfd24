package agent

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
)

// detectorServices runs the long-running parts of the enabled detectors
// (detectors.Info.Service, such as the colocation peer beacon) for as long
// as the agent runs, and hands them to Observe through Host.Services.
type detectorServices struct {
	mu      sync.Mutex
	running map[string]detectors.Service
	wg      sync.WaitGroup
}

// startServices starts the service of every enabled detector that has
// one; they stop when ctx ends. A service that cannot start is logged and
// recorded as an agent event; its detector still observes without it.
func (a *Agent) startServices(ctx context.Context) {
	s := a.scanner()
	e, err := s.engine()
	if err != nil {
		a.Log.Error("detector services not started", zap.Error(err))
		return
	}
	a.services.mu.Lock()
	defer a.services.mu.Unlock()
	if a.services.running == nil {
		a.services.running = map[string]detectors.Service{}
	}
	for _, d := range e.Detectors {
		info, _ := detectors.Lookup(d.Name())
		if info.Service == nil || a.services.running[d.Name()] != nil {
			continue
		}
		log := a.Log.Named(d.Name())
		svc, err := info.Service(detectors.ServiceConfig{
			DeviceID: a.DeviceID(), FleetKey: a.state.FleetKey, Policy: e.Policies[d.Name()], Log: log, Now: a.Now,
		})
		if err != nil {
			log.Error("detector service not started; the detector observes without it", zap.Error(err))
			a.event("service_failed", fmt.Sprintf("%s service not started: %v", d.Name(), err))
			continue
		}
		a.services.running[d.Name()] = svc
		a.services.wg.Add(1)
		go func() {
			defer a.services.wg.Done()
			if err := svc.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("detector service stopped", zap.Error(err))
				a.event("service_failed", fmt.Sprintf("%s service stopped: %v", d.Name(), err))
			}
		}()
	}
}

// waitServices waits until the services started by startServices return.
func (a *Agent) waitServices() { a.services.wg.Wait() }

// serviceMap returns the running services by detector name.
func (a *Agent) serviceMap() map[string]detectors.Service {
	a.services.mu.Lock()
	defer a.services.mu.Unlock()
	if len(a.services.running) == 0 {
		return nil
	}
	return maps.Clone(a.services.running)
}

// applyServicePolicies hands the running services their detectors'
// policies after the fleet policy changed.
func (a *Agent) applyServicePolicies() {
	running := a.serviceMap()
	if len(running) == 0 {
		return
	}
	e, err := a.scanner().engine()
	if err != nil {
		a.Log.Error("detector service policies not updated", zap.Error(err))
		return
	}
	for name, svc := range running {
		if pol, ok := e.Policies[name]; ok {
			svc.SetPolicy(pol)
		}
	}
}

// host returns the host to observe, with the running detector services.
func (a *Agent) host() *detectors.Host {
	h := a.Host(a.Log)
	h.Services = a.serviceMap()
	return h
}

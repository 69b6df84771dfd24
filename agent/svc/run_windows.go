package svc

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"
	"golang.org/x/sys/windows/svc"
)

// Run runs fn under the Windows service manager when this process is a
// service (svc.IsWindowsService, or forced: the --windows-service flag or
// EnvWindowsService, for Wine), through golang.org/x/sys/windows/svc
// directly; otherwise fn runs until ctx ends.
func Run(ctx context.Context, name string, force bool, log *zap.Logger, fn RunFunc) error {
	isSvc, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	if !isSvc && !force && os.Getenv(EnvWindowsService) != "1" {
		return fn(ctx)
	}
	if err := configureRecovery(name); err != nil {
		log.Warn("recovery actions not verified", zap.Error(err))
	}
	h := &handler{ctx: ctx, fn: fn, log: log}
	if err := svc.Run(name, h); err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	return h.err
}

// handler is the SCM control handler: it starts fn, reports RUNNING, and
// on Stop or Shutdown ends fn's context and reports STOPPED once fn has
// returned (after the "stopping" report). fn ending by itself with an
// error exits with a service-specific code, so the recovery actions
// restart the service.
type handler struct {
	ctx context.Context
	fn  RunFunc
	log *zap.Logger
	err error
}

func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.fn(ctx) }()
	changes <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			if err != nil {
				h.err = err
				h.log.Error("service ended with an error", zap.Error(err))
				return true, 1
			}
			return false, 0
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				changes <- svc.Status{State: svc.StopPending, WaitHint: uint32(StopTimeout.Milliseconds())}
				cancel()
				if err := <-done; err != nil {
					h.err = err
					h.log.Error("service stopped with an error", zap.Error(err))
					return true, 2
				}
				h.log.Info("service stopped")
				return false, 0
			}
		}
	}
}

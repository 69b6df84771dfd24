//go:build !windows

package svc

import (
	"context"
	"errors"
	"fmt"

	"github.com/kardianos/service"
	"go.uber.org/zap"
)

// Run runs fn under the service manager's control. Started by systemd or
// launchd, kardianos runs it until the manager's SIGTERM (which also ends
// ctx); from a terminal, fn simply runs until ctx ends. forceWindows is
// for Windows only.
func Run(ctx context.Context, name string, _ bool, log *zap.Logger, fn RunFunc) error {
	if service.Interactive() {
		return fn(ctx)
	}
	p := &program{ctx: ctx, fn: fn, log: log}
	s, err := service.New(p, &service.Config{Name: name, Option: service.KeyValue{
		// kardianos waits for SIGTERM by default; ctx ends on it already,
		// and the run function may also end by itself.
		"RunWait": func() {
			select {
			case <-ctx.Done():
			case <-p.done:
			}
		},
	}})
	if errors.Is(err, service.ErrNoServiceSystemDetected) {
		return fn(ctx)
	}
	if err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	if err := s.Run(); err != nil {
		return fmt.Errorf("service run: %w", err)
	}
	return p.err
}

// program adapts a RunFunc to kardianos' Start/Stop.
type program struct {
	ctx    context.Context
	fn     RunFunc
	log    *zap.Logger
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(p.ctx)
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.fn(ctx)
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	<-p.done
	p.log.Info("service stopped")
	return nil
}

package svc

import (
	"errors"
	"fmt"

	"github.com/kardianos/service"
)

// State is a service's state as `farmwatch service status` prints it.
type State string

// States.
const (
	StateRunning      State = "running"
	StateStopped      State = "stopped"
	StateNotInstalled State = "not installed"
	StateUnknown      State = "unknown"
)

// Actions of `farmwatch service`.
var Actions = []string{"install", "uninstall", "start", "stop", "status"}

// noop is the kardianos program of a service that is only controlled
// (installed, started …), never run, from this process.
type noop struct{}

func (noop) Start(service.Service) error { return nil }
func (noop) Stop(service.Service) error  { return nil }

// Control performs install, uninstall, start or stop on the system's
// service manager. Install also sets what kardianos cannot (Windows:
// the recovery back-off and no delayed start).
func Control(goos, action string, o Options) error {
	s, err := service.New(noop{}, Config(goos, o))
	if err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	switch action {
	case "install", "uninstall", "start", "stop":
	default:
		return fmt.Errorf("service: unknown action %q (want install, uninstall, start, stop or status)", action)
	}
	if err := service.Control(s, action); err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	if action == "install" {
		if err := configureRecovery(o.name()); err != nil {
			return fmt.Errorf("service install: recovery settings: %w", err)
		}
	}
	return nil
}

// Status asks the system's service manager for the service's state.
func Status(goos string, o Options) (State, error) {
	s, err := service.New(noop{}, Config(goos, o))
	if err != nil {
		return StateUnknown, fmt.Errorf("service status: %w", err)
	}
	st, err := s.Status()
	return stateOf(st, err)
}

// stateOf maps kardianos' answer to a State.
func stateOf(st service.Status, err error) (State, error) {
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return StateNotInstalled, nil
	case err != nil:
		return StateUnknown, fmt.Errorf("service status: %w", err)
	case st == service.StatusRunning:
		return StateRunning, nil
	case st == service.StatusStopped:
		return StateStopped, nil
	}
	return StateUnknown, nil
}

package svc

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// configureRecovery sets the Windows service's recovery actions (restart
// with the RecoveryDelays back-off, also after a non-crash failure such as
// exit code 1) and turns delayed start off (the start type, automatic
// at install, is left as an administrator set it). The MSI cannot author failure
// actions (wixl), so the service also calls this when it starts.
func configureRecovery(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", name, err)
	}
	defer s.Close()
	actions := make([]mgr.RecoveryAction, 0, len(RecoveryDelays))
	for _, d := range RecoveryDelays {
		actions = append(actions, mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: time.Duration(d) * time.Second})
	}
	if err := s.SetRecoveryActions(actions, uint32(RecoveryResetPeriod)); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	// Every Windows since Vista has this setting; Wine 8's service
	// manager does not (ERROR_INVALID_LEVEL), and there the recovery
	// actions apply to crashes only.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil && !errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		return fmt.Errorf("set recovery on non-crash failures: %w", err)
	}
	// Written, not read and compared: reading the configuration also
	// reads levels Wine 8 lacks. Wine refuses this level too
	// (ERROR_INVALID_LEVEL); there delayed start does not exist.
	info := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 0}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&info))); err != nil && !errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		return fmt.Errorf("turn delayed start off: %w", err)
	}
	return nil
}

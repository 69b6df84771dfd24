package remoteaccess

import "context"

// nativeSource reads what only OS APIs expose (the Windows service control
// manager, registry and terminal-services sessions). The real one lives in
// native_windows.go; elsewhere it reports ErrUnsupported. Tests replace it
// with recorded data, so the Windows evaluation path runs on Linux, and the
// real one runs under Wine in CI (make test-wine).
type nativeSource interface {
	// Services lists Windows services with their state, start mode,
	// binary path and account.
	Services(ctx context.Context) ([]Service, error)
	// Software lists uninstall entries (HKLM 64- and 32-bit views, and
	// every loaded user hive under HKU).
	Software(ctx context.Context) ([]Software, error)
	// Features reports the OS remote-desktop host (RDP) and whether it is
	// enabled (fDenyTSConnections), with the listening port.
	Features(ctx context.Context) ([]Feature, error)
	// Sessions lists active remote (RDP) sessions.
	Sessions(ctx context.Context) ([]Session, error)
}

//go:build !windows

package svc

// configureRecovery: systemd (Restart=on-failure) and launchd (KeepAlive)
// restart the agent from their service files.
func configureRecovery(string) error { return nil }

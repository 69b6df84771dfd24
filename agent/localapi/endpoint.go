package localapi

import (
	"fmt"
	"path"
	"strings"
)

// DefaultEndpoint is the local API's endpoint on goos: a unix socket path
// (linux: /run/farmwatch/farmwatch.sock; darwin and other unix:
// /var/run/farmwatch/farmwatch.sock) or a pipe name (windows:
// \\.\pipe\farmwatch, with \\.\pipe\farmwatch-admin for administrators).
func DefaultEndpoint(goos string) string {
	switch goos {
	case "windows":
		return `\\.\pipe\farmwatch`
	case "linux":
		return "/run/farmwatch/farmwatch.sock"
	}
	return "/var/run/farmwatch/farmwatch.sock"
}

// AdminPipe is the pipe of privileged calls for a Windows endpoint.
func AdminPipe(endpoint string) string { return endpoint + "-admin" }

// DefaultAdminGroups are the unix groups whose members may call
// privileged endpoints besides root: on Linux sudo (Debian, Ubuntu) and
// wheel (Fedora, RHEL, Arch), on macOS admin (every administrator account)
// and wheel. Windows has none: the admin pipe admits SYSTEM and the
// Administrators group.
func DefaultAdminGroups(goos string) []string {
	switch goos {
	case "windows":
		return nil
	case "darwin":
		return []string{"admin", "wheel"}
	}
	return []string{"sudo", "wheel"}
}

// CheckEndpoint validates an endpoint for goos: an absolute socket path
// on unix, a \\.\pipe\ name on Windows.
func CheckEndpoint(goos, endpoint string) error {
	if goos == "windows" {
		name, ok := strings.CutPrefix(endpoint, `\\.\pipe\`)
		if !ok || name == "" || strings.ContainsAny(name, `\/`) {
			return fmt.Errorf("local API endpoint %q: want a pipe name like \\\\.\\pipe\\farmwatch", endpoint)
		}
		return nil
	}
	// Unix socket paths are limited to about 104 bytes (sun_path); path,
	// not filepath: the check is of unix paths on any OS.
	if !strings.HasPrefix(endpoint, "/") || path.Clean(endpoint) != endpoint || len(endpoint) > 100 {
		return fmt.Errorf("local API endpoint %q: want an absolute, clean socket path of at most 100 bytes", endpoint)
	}
	return nil
}

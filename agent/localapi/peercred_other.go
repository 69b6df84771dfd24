//go:build !linux && !darwin && !windows

package localapi

import (
	"errors"
	"syscall"
)

// peerCredentials is not implemented on this system: every caller is
// nobody, so privileged endpoints refuse everyone.
func peerCredentials(syscall.RawConn) (credentials, error) {
	return credentials{}, errors.New("peer credentials are not supported on this system")
}

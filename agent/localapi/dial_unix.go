//go:build !windows

package localapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// dialers of a unix endpoint: one socket for everything; the server tells
// callers apart by their credentials.
func dialers(endpoint string) (read, admin dialFunc) {
	d := func(ctx context.Context) (net.Conn, error) {
		var nd net.Dialer
		c, err := nd.DialContext(ctx, "unix", endpoint)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("%w (nothing listens at %s)", ErrNotRunning, endpoint)
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("connect to %s: permission denied (the socket should be mode 0666; is another program using this path?): %w", endpoint, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	return d, d
}

package localapi

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// dialers of a Windows endpoint: the read pipe, and the admin pipe whose
// security descriptor admits only administrators.
func dialers(endpoint string) (read, admin dialFunc) {
	return pipeDialer(endpoint), pipeDialer(AdminPipe(endpoint))
}

func pipeDialer(pipe string) dialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		c, err := winio.DialPipeContext(ctx, pipe)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, windows.ERROR_FILE_NOT_FOUND), errors.Is(err, windows.ERROR_PATH_NOT_FOUND):
			return nil, fmt.Errorf("%w (no pipe %s)", ErrNotRunning, pipe)
		case errors.Is(err, windows.ERROR_ACCESS_DENIED):
			return nil, fmt.Errorf("%w (%s admits administrators only; use an elevated prompt)", ErrForbidden, pipe)
		}
		return nil, fmt.Errorf("connect to %s: %w", pipe, err)
	}
}

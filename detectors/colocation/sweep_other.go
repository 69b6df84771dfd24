//go:build !linux

package colocation

import (
	"context"
	"fmt"
	"runtime"
)

// systemSweeper reports that the ARP sweep needs Linux's packet sockets.
func systemSweeper(context.Context, sweepRequest) (int, []sweepReply, error) {
	return 0, nil, fmt.Errorf("arp sweep: not available on %s (Linux only)", runtime.GOOS)
}

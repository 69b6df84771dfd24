package netinfo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mdlayher/wifi"
)

// The live nl80211 query (generic netlink through mdlayher/wifi); what it
// returns is interpreted by wifiFromNL80211.

func init() { liveNL80211 = queryNL80211 }

func queryNL80211(ctx context.Context) (out []nlInterface, err error) {
	c, err := wifi.New()
	if err != nil {
		return nil, fmt.Errorf("open nl80211: %w", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil && ctx.Err() == nil {
			err = fmt.Errorf("close nl80211: %w", cerr)
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return nil, fmt.Errorf("nl80211 deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	ifis, err := c.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("nl80211 interfaces: %w", err)
	}
	for _, ifi := range ifis {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := nlInterface{Ifi: ifi}
		if ifi.Name != "" {
			n.BSS, n.BSSErr = c.BSS(ifi)
			if n.BSSErr != nil && !errors.Is(n.BSSErr, fs.ErrNotExist) {
				return nil, fmt.Errorf("nl80211 BSS of %s: %w", ifi.Name, n.BSSErr)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

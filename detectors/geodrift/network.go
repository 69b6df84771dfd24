package geodrift

import (
	"context"
	"errors"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/netinfo"
)

// networkSource gives the network facts geodrift records. The real one
// reads them through netinfo; tests replay recorded values, so that the
// Windows and macOS paths (which netinfo reads through OS calls) run on
// Linux too.
type networkSource interface {
	// Tunnels lists the tunnel interfaces.
	Tunnels(ctx context.Context, h *detectors.Host) ([]Tunnel, error)
	// Gateway returns the default gateway; the zero value and no error
	// when there is none.
	Gateway(ctx context.Context, h *detectors.Host) (Network, error)
	// BSSIDs lists the access points of associated Wi-Fi links; a reason
	// (Location permission withheld …) when the OS would not tell.
	BSSIDs(ctx context.Context, h *detectors.Host) (bssids []string, unavailable string, err error)
}

// netinfoSource is the networkSource of real hosts.
type netinfoSource struct{}

var _ networkSource = netinfoSource{}

func (netinfoSource) Tunnels(ctx context.Context, h *detectors.Host) ([]Tunnel, error) {
	ifs, err := netinfo.Interfaces(ctx, h)
	if err != nil {
		return nil, err
	}
	var out []Tunnel
	for _, i := range ifs {
		if i.Kind != netinfo.KindTunnel {
			continue
		}
		kind := i.TunnelKind
		if kind == "" {
			kind = netinfo.TunnelKindOf(i.Name, i.Description)
		}
		out = append(out, Tunnel{Name: i.Name, Kind: kind, Description: i.Description, Up: i.Up})
	}
	return out, nil
}

func (netinfoSource) Gateway(ctx context.Context, h *detectors.Host) (Network, error) {
	gw, err := netinfo.DefaultGateway(ctx, h)
	if errors.Is(err, netinfo.ErrNoGateway) {
		return Network{}, nil
	}
	n := Network{GatewayMAC: gw.MAC, Interface: gw.Interface}
	if gw.IP.IsValid() {
		n.GatewayIP = gw.IP.String()
	}
	return n, err
}

func (netinfoSource) BSSIDs(ctx context.Context, h *detectors.Host) ([]string, string, error) {
	st, err := netinfo.WiFi(ctx, h)
	if err != nil {
		return nil, "", err
	}
	if !st.Available {
		return nil, st.Reason, nil
	}
	var out []string
	for _, l := range st.Links {
		if b := netinfo.NormalizeMAC(l.BSSID); b != "" {
			out = append(out, b)
		}
	}
	return out, "", nil
}

package netinfo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Kind of an interface.
type Kind string

// The kinds of interface.
const (
	KindEthernet Kind = "ethernet"
	KindWiFi     Kind = "wifi"
	KindTunnel   Kind = "tunnel"
	KindLoopback Kind = "loopback"
	KindOther    Kind = "other"
)

// Interface is one network interface of the host.
type Interface struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	MAC   string `json:"mac,omitempty"` // lower-case "aa:bb:cc:dd:ee:ff"
	Kind  Kind   `json:"kind"`
	// TunnelKind refines KindTunnel: "tun", "tap", "utun", "wintun", "ppp", "wireguard", "ipsec", "tunnel".
	TunnelKind string `json:"tunnel_kind,omitempty"`
	// Description is the OS's description/driver when known (Windows adapter description, Linux driver).
	Description string         `json:"description,omitempty"`
	Up          bool           `json:"up"`
	Addrs       []netip.Prefix `json:"addrs,omitempty"`
}

// Gateway is the default IPv4 gateway.
type Gateway struct {
	IP        netip.Addr `json:"ip"`
	MAC       string     `json:"mac,omitempty"` // from the neighbour table; "" if not resolved
	Interface string     `json:"interface"`
}

// Neighbour is one resolved entry of the neighbour (ARP / NDP) table.
type Neighbour struct {
	IP        netip.Addr `json:"ip"`
	MAC       string     `json:"mac"`
	Interface string     `json:"interface"`
	State     string     `json:"state,omitempty"` // "reachable", "stale", "permanent", …
}

// WiFiLink is one Wi-Fi interface associated with an access point.
type WiFiLink struct {
	Interface string `json:"interface"`
	SSID      string `json:"ssid,omitempty"`
	BSSID     string `json:"bssid,omitempty"`
}

// WiFiStatus is what the OS tells about the Wi-Fi links of the host.
type WiFiStatus struct {
	Links []WiFiLink `json:"links,omitempty"`
	// Available is false when the OS would not tell (no Wi-Fi stack, macOS without Location Services
	// permission, Windows location consent); Reason says why in plain words.
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
}

// ErrNoGateway is returned by DefaultGateway when the host has no default
// IPv4 route through a gateway.
var ErrNoGateway = errors.New("netinfo: no default IPv4 gateway")

// platform reads a host whose network facts are reachable only through OS
// calls (Windows, macOS) or, for Wi-Fi, through nl80211 on Linux. The
// GOOS-suffixed files fill it in at init; a field is nil when this binary
// cannot read that platform.
type platform struct {
	interfaces func(ctx context.Context, h *detectors.Host) ([]Interface, error)
	gateway    func(ctx context.Context, h *detectors.Host) (Gateway, error)
	neighbours func(ctx context.Context, h *detectors.Host) ([]Neighbour, error)
	wifi       func(ctx context.Context, h *detectors.Host) (WiFiStatus, error)
}

var (
	// windowsSystem is set by netinfo_windows.go.
	windowsSystem platform
	// darwinSystem is set by netinfo_darwin.go.
	darwinSystem platform
)

// errNotBuiltIn says a host of another OS than the binary's was asked for
// facts that only that OS's calls give.
func errNotBuiltIn(goos string) error {
	return fmt.Errorf("reading a %s host needs the %s system calls, not built into this binary: %w", goos, goos, errors.ErrUnsupported)
}

// Interfaces lists the host's network interfaces, sorted by index.
func Interfaces(ctx context.Context, h *detectors.Host) ([]Interface, error) {
	var (
		ifs []Interface
		err error
	)
	switch h.GOOS {
	case "linux":
		ifs, err = linuxInterfaces(ctx, h)
	case "windows":
		ifs, err = call(ctx, h, "windows", windowsSystem.interfaces)
	case "darwin":
		ifs, err = call(ctx, h, "darwin", darwinSystem.interfaces)
	default:
		err = fmt.Errorf("%s: %w", h.GOOS, errors.ErrUnsupported)
	}
	if err != nil {
		err = fmt.Errorf("netinfo: interfaces: %w", err)
	}
	sortInterfaces(ifs)
	return ifs, err
}

// DefaultGateway returns the default IPv4 gateway, with its MAC address
// from the neighbour table when the table has it. It returns an error
// wrapping ErrNoGateway when there is no default route through a
// gateway. When the route was found but a source could not be read
// completely (the neighbour table, a malformed route line), the gateway
// is returned with the error.
func DefaultGateway(ctx context.Context, h *detectors.Host) (Gateway, error) {
	var (
		gw  Gateway
		err error
	)
	switch h.GOOS {
	case "linux":
		gw, err = linuxGateway(ctx, h)
	case "windows":
		gw, err = call(ctx, h, "windows", windowsSystem.gateway)
	case "darwin":
		gw, err = call(ctx, h, "darwin", darwinSystem.gateway)
	default:
		err = fmt.Errorf("%s: %w", h.GOOS, errors.ErrUnsupported)
	}
	if !gw.IP.IsValid() {
		if err == nil || errors.Is(err, ErrNoGateway) {
			return Gateway{}, ErrNoGateway
		}
		return Gateway{}, fmt.Errorf("netinfo: default gateway: %w", err)
	}
	errs := []error{err}
	ns, nerr := Neighbours(ctx, h)
	if nerr != nil {
		errs = append(errs, fmt.Errorf("MAC of %s: %w", gw.IP, nerr))
	}
	gw.MAC = gatewayMAC(gw, ns)
	if err := errors.Join(errs...); err != nil {
		return gw, fmt.Errorf("netinfo: default gateway: %w", err)
	}
	return gw, nil
}

// gatewayMAC finds the gateway's MAC address in the neighbour table: the
// entry for its address on its interface, or on any interface when the
// table names none for it.
func gatewayMAC(gw Gateway, ns []Neighbour) string {
	mac := ""
	for _, n := range ns {
		if n.IP != gw.IP || n.MAC == "" {
			continue
		}
		if n.Interface == gw.Interface {
			return n.MAC
		}
		if mac == "" {
			mac = n.MAC
		}
	}
	return mac
}

// Neighbours lists the resolved entries of the neighbour table (IPv4, and
// IPv6 where the OS gives it: Windows and macOS), sorted by interface and
// address. Entries without a MAC address (incomplete resolution) are left
// out.
func Neighbours(ctx context.Context, h *detectors.Host) ([]Neighbour, error) {
	var (
		ns  []Neighbour
		err error
	)
	switch h.GOOS {
	case "linux":
		ns, err = linuxNeighbours(ctx, h)
	case "windows":
		ns, err = call(ctx, h, "windows", windowsSystem.neighbours)
	case "darwin":
		ns, err = call(ctx, h, "darwin", darwinSystem.neighbours)
	default:
		err = fmt.Errorf("%s: %w", h.GOOS, errors.ErrUnsupported)
	}
	if err != nil {
		err = fmt.Errorf("netinfo: neighbours: %w", err)
	}
	ns = slices.DeleteFunc(ns, func(n Neighbour) bool { return !usableNeighbour(n) })
	sortNeighbours(ns)
	return ns, err
}

// WiFi reports the SSID and BSSID of every associated Wi-Fi interface, or
// why the OS would not tell.
func WiFi(ctx context.Context, h *detectors.Host) (WiFiStatus, error) {
	var (
		st  WiFiStatus
		err error
	)
	switch h.GOOS {
	case "linux":
		st, err = linuxWiFi(ctx, h, liveNL80211)
	case "windows":
		st, err = call(ctx, h, "windows", windowsSystem.wifi)
	case "darwin":
		st, err = call(ctx, h, "darwin", darwinSystem.wifi)
	default:
		err = fmt.Errorf("%s: %w", h.GOOS, errors.ErrUnsupported)
	}
	if err != nil {
		return WiFiStatus{}, fmt.Errorf("netinfo: wifi: %w", err)
	}
	slices.SortFunc(st.Links, func(a, b WiFiLink) int { return strings.Compare(a.Interface, b.Interface) })
	return st, nil
}

// call runs one platform function, or says the platform is not built in.
func call[T any](ctx context.Context, h *detectors.Host, goos string, f func(context.Context, *detectors.Host) (T, error)) (T, error) {
	if f == nil {
		var zero T
		return zero, errNotBuiltIn(goos)
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	return f(ctx, h)
}

func sortInterfaces(ifs []Interface) {
	slices.SortStableFunc(ifs, func(a, b Interface) int {
		if a.Index != b.Index {
			return a.Index - b.Index
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := range ifs {
		slices.SortFunc(ifs[i].Addrs, comparePrefix)
		ifs[i].Addrs = slices.Compact(ifs[i].Addrs)
	}
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func sortNeighbours(ns []Neighbour) {
	slices.SortStableFunc(ns, func(a, b Neighbour) int {
		if c := strings.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		return a.IP.Compare(b.IP)
	})
}

// usableNeighbour says whether a neighbour entry names a host: a
// unicast address with a unicast MAC (tables also hold broadcast and
// multicast mappings).
func usableNeighbour(n Neighbour) bool {
	if !n.IP.IsValid() || n.IP.IsUnspecified() || n.IP.IsMulticast() || n.IP == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	if n.MAC == "" {
		return false
	}
	first, err := strconv.ParseUint(n.MAC[:2], 16, 8)
	return err == nil && first&1 == 0
}

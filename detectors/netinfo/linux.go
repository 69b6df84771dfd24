package netinfo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
)

// Reading a Linux host through h.FS: sysfs for the interfaces, the
// /proc/net text files for addresses, routes and the ARP table.

// ARPHRD_* link types of sys/class/net/<if>/type (linux/if_arp.h).
const (
	arphrdEther    = 1
	arphrdPPP      = 512
	arphrdTunnel   = 768
	arphrdTunnel6  = 769
	arphrdLoopback = 772
	arphrdSIT      = 776
	arphrdIPGRE    = 778
	arphrdIP6GRE   = 823
	arphrdNone     = 65534
)

// tun_flags bits (linux/if_tun.h).
const iffTap = 0x2

// linuxInterfaces reads sys/class/net and the address files of
// proc/net. A source that cannot be read is reported in the error; what
// was read is still returned.
func linuxInterfaces(ctx context.Context, h *detectors.Host) ([]Interface, error) {
	const dir = "sys/class/net"
	ents, err := fs.ReadDir(h.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var (
		ifs  []Interface
		errs []error
	)
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ifi, err := linuxInterface(h.FS, path.Join(dir, e.Name()), e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ifs = append(ifs, ifi)
	}
	if err := linuxAddrs(h, ifs); err != nil {
		errs = append(errs, err)
	}
	return ifs, errors.Join(errs...)
}

// linuxInterface reads one sys/class/net/<name> directory.
func linuxInterface(fsys fs.FS, dir, name string) (Interface, error) {
	ifi := Interface{Name: name}
	idx, err := readInt(fsys, path.Join(dir, "ifindex"), 10)
	if err != nil {
		return ifi, fmt.Errorf("interface %s: %w", name, err)
	}
	ifi.Index = idx
	typ, err := readInt(fsys, path.Join(dir, "type"), 10)
	if err != nil {
		return ifi, fmt.Errorf("interface %s: %w", name, err)
	}
	if addr, err := readTrimmed(fsys, path.Join(dir, "address")); err == nil {
		ifi.MAC = NormalizeMAC(addr)
	}
	oper, _ := readTrimmed(fsys, path.Join(dir, "operstate"))
	flags, _ := readInt(fsys, path.Join(dir, "flags"), 0)
	// operstate is "unknown" for links without carrier reporting (lo,
	// tun, wireguard): there the administrative IFF_UP flag says it.
	ifi.Up = oper == "up" || (oper == "unknown" && flags&0x1 != 0)

	uevent := readKeyValues(fsys, path.Join(dir, "uevent"))
	devtype := uevent["DEVTYPE"]
	hasDevice := exists(fsys, path.Join(dir, "device"))
	ifi.Description = linuxDriver(fsys, dir)
	wireless := exists(fsys, path.Join(dir, "wireless")) || exists(fsys, path.Join(dir, "phy80211")) || devtype == "wlan"
	tunFlags, tunErr := readInt(fsys, path.Join(dir, "tun_flags"), 0)
	isTun := tunErr == nil

	switch {
	case typ == arphrdLoopback:
		ifi.Kind = KindLoopback
	case isTun:
		ifi.Kind, ifi.TunnelKind = KindTunnel, "tun"
		if tunFlags&iffTap != 0 {
			ifi.TunnelKind = "tap"
		}
	case devtype == "wireguard":
		ifi.Kind, ifi.TunnelKind = KindTunnel, "wireguard"
	case typ == arphrdPPP:
		ifi.Kind, ifi.TunnelKind = KindTunnel, "ppp"
	case typ == arphrdEther && wireless:
		ifi.Kind = KindWiFi
	case typ == arphrdTunnel || typ == arphrdTunnel6 || typ == arphrdSIT || typ == arphrdIPGRE || typ == arphrdIP6GRE:
		ifi.Kind, ifi.TunnelKind = KindTunnel, "tunnel"
		if k := TunnelKindOf(name, devtype); k != "" {
			ifi.TunnelKind = k
		}
	case devtype == "xfrm" || devtype == "vti":
		ifi.Kind, ifi.TunnelKind = KindTunnel, "ipsec"
	case typ == arphrdNone:
		// A layer-3 device of a driver that does not say what it is
		// (an out-of-tree VPN module): by name, else a generic tunnel.
		ifi.Kind, ifi.TunnelKind = KindTunnel, "tunnel"
		if k := TunnelKindOf(name, ifi.Description); k != "" {
			ifi.TunnelKind = k
		}
	case typ == arphrdEther && hasDevice && devtype == "":
		ifi.Kind = KindEthernet
	default:
		// Software Ethernet (bridge, veth, bond, vlan, macvlan, dummy)
		// and every other link type.
		ifi.Kind = KindOther
	}
	return ifi, nil
}

// linuxDriver is the driver of the interface's device: DRIVER= of
// device/uevent, else the name the device/driver link points to.
func linuxDriver(fsys fs.FS, dir string) string {
	if d := readKeyValues(fsys, path.Join(dir, "device", "uevent"))["DRIVER"]; d != "" {
		return d
	}
	if target, err := fs.ReadLink(fsys, path.Join(dir, "device", "driver")); err == nil {
		return path.Base(target)
	}
	return ""
}

// linuxAddrs fills in the interfaces' addresses: IPv6 from
// proc/net/if_inet6, IPv4 from the LOCAL leaves of proc/net/fib_trie,
// each put on the interface (and given the prefix length) of the
// narrowest on-link route of proc/net/route that holds it; 127.0.0.0/8
// addresses go to the loopback interface. An IPv4 address without such a
// route (its interface is down, or a /32 address on a point-to-point
// link without a subnet route) cannot be placed and is left out.
func linuxAddrs(h *detectors.Host, ifs []Interface) error {
	byName := map[string]*Interface{}
	var loopback *Interface
	for i := range ifs {
		byName[ifs[i].Name] = &ifs[i]
		if ifs[i].Kind == KindLoopback && loopback == nil {
			loopback = &ifs[i]
		}
	}
	var errs []error

	if data, err := fs.ReadFile(h.FS, "proc/net/if_inet6"); err == nil {
		es, perr := parseIfInet6(data)
		errs = append(errs, perr)
		for _, e := range es {
			if ifi := byName[e.Iface]; ifi != nil {
				ifi.Addrs = append(ifi.Addrs, e.Prefix)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) { // absent when IPv6 is disabled
		errs = append(errs, fmt.Errorf("read proc/net/if_inet6: %w", err))
	}

	trie, err := fs.ReadFile(h.FS, "proc/net/fib_trie")
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("read proc/net/fib_trie: %w", err))...)
	}
	local, perr := parseFibTrie(trie)
	errs = append(errs, perr)
	routes, rerr := readRoutes(h)
	errs = append(errs, rerr)
	for _, a := range local {
		if a.As4()[0] == 127 {
			if loopback != nil {
				loopback.Addrs = append(loopback.Addrs, netip.PrefixFrom(a, 8))
			}
			continue
		}
		best := -1
		for i, r := range routes {
			if r.Flags&(rtfGateway|rtfReject) != 0 || !r.Dst.Contains(a) {
				continue
			}
			if best < 0 || r.Dst.Bits() > routes[best].Dst.Bits() {
				best = i
			}
		}
		if best < 0 {
			logger(h).Debug("IPv4 address without an on-link route left out", zap.Stringer("addr", a))
			continue
		}
		if ifi := byName[routes[best].Iface]; ifi != nil {
			ifi.Addrs = append(ifi.Addrs, netip.PrefixFrom(a, routes[best].Dst.Bits()))
		}
	}
	return errors.Join(errs...)
}

// readRoutes reads and parses proc/net/route.
func readRoutes(h *detectors.Host) ([]routeEntry, error) {
	data, err := fs.ReadFile(h.FS, "proc/net/route")
	if err != nil {
		return nil, fmt.Errorf("read proc/net/route: %w", err)
	}
	return parseProcRoute(data)
}

// linuxGateway picks the default route of the main table with a gateway
// and the lowest metric.
func linuxGateway(ctx context.Context, h *detectors.Host) (Gateway, error) {
	if err := ctx.Err(); err != nil {
		return Gateway{}, err
	}
	routes, err := readRoutes(h)
	if gw, ok := defaultRoute(routes); ok {
		return gw, err
	}
	if err != nil {
		return Gateway{}, err
	}
	return Gateway{}, ErrNoGateway
}

// defaultRoute picks, among up default routes through a gateway, the one
// with the lowest metric (the first on a tie, as the kernel does).
func defaultRoute(routes []routeEntry) (Gateway, bool) {
	best := -1
	for i, r := range routes {
		if r.Dst.Bits() != 0 || r.Flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || r.Flags&rtfReject != 0 {
			continue
		}
		if !r.Gateway.IsValid() || r.Gateway.IsUnspecified() {
			continue
		}
		if best < 0 || r.Metric < routes[best].Metric {
			best = i
		}
	}
	if best < 0 {
		return Gateway{}, false
	}
	return Gateway{IP: routes[best].Gateway, Interface: routes[best].Iface}, true
}

// linuxNeighbours reads proc/net/arp (IPv4 only: the IPv6 neighbour
// table is not in procfs).
func linuxNeighbours(ctx context.Context, h *detectors.Host) ([]Neighbour, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(h.FS, "proc/net/arp")
	if err != nil {
		return nil, fmt.Errorf("read proc/net/arp: %w", err)
	}
	return parseProcARP(data)
}

// linuxWirelessNames lists the interfaces sysfs marks as wireless.
func linuxWirelessNames(fsys fs.FS) ([]string, error) {
	const dir = "sys/class/net"
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		d := path.Join(dir, e.Name())
		if exists(fsys, path.Join(d, "wireless")) || exists(fsys, path.Join(d, "phy80211")) ||
			readKeyValues(fsys, path.Join(d, "uevent"))["DEVTYPE"] == "wlan" {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func readTrimmed(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readInt reads a sysfs number; base 0 accepts "0x" hex.
func readInt(fsys fs.FS, name string, base int) (int, error) {
	s, err := readTrimmed(fsys, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, base, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	return int(v), nil
}

// readKeyValues reads a KEY=value file (uevent); nil when unreadable.
func readKeyValues(fsys fs.FS, name string) map[string]string {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// logger is the host's logger, or a no-op one.
func logger(h *detectors.Host) *zap.Logger {
	if h.Log == nil {
		return zap.NewNop()
	}
	return h.Log
}

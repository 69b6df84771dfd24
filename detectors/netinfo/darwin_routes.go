package netinfo

import (
	"net"
	"net/netip"
	"strings"
)

// Interpretation of macOS routing-socket messages and interfaces. The
// shim in netinfo_darwin.go fetches the routing table with
// golang.org/x/net/route (FetchRIB, ParseRIB) and copies each message
// into a routeRecord; the decisions are made here, on every OS.

// Route flags of macOS (net/route.h).
const (
	darwinRTFUp        = 0x1
	darwinRTFGateway   = 0x2
	darwinRTFHost      = 0x4
	darwinRTFReject    = 0x8
	darwinRTFLLInfo    = 0x400
	darwinRTFStatic    = 0x800
	darwinRTFBlackhole = 0x1000
	darwinRTFBroadcast = 0x400000
	darwinRTFMulticast = 0x800000
	darwinRTFIfScope   = 0x1000000
)

// routeRecord is one RTM_GET route message: its flags, interface index
// and the addresses at RTAX_DST, RTAX_GATEWAY and RTAX_NETMASK.
type routeRecord struct {
	Flags   int
	Index   int
	Dst     routeAddr
	Gateway routeAddr
	Netmask routeAddr
}

// routeAddr is one address of a route message: an IP (route.Inet4Addr,
// route.Inet6Addr), a link-layer address (route.LinkAddr), or neither
// (absent, or route.DefaultAddr).
type routeAddr struct {
	IP   netip.Addr
	Link *linkAddr
}

// linkAddr is a route.LinkAddr.
type linkAddr struct {
	Index int
	Name  string
	Addr  []byte
}

// gatewayFromRoutes picks the default IPv4 route through a gateway,
// leaving out the per-interface (RTF_IFSCOPE) copies macOS keeps for
// every service; the first unscoped one is the primary service's.
func gatewayFromRoutes(rs []routeRecord, names map[int]string) (Gateway, error) {
	for _, r := range rs {
		if r.Flags&(darwinRTFUp|darwinRTFGateway) != darwinRTFUp|darwinRTFGateway ||
			r.Flags&(darwinRTFIfScope|darwinRTFReject|darwinRTFBlackhole|darwinRTFHost) != 0 {
			continue
		}
		if !r.Dst.IP.Is4() || !r.Dst.IP.IsUnspecified() {
			continue
		}
		if r.Netmask.IP.IsValid() && !r.Netmask.IP.IsUnspecified() {
			continue
		}
		gw := r.Gateway.IP
		if !gw.Is4() || gw.IsUnspecified() {
			continue // a default route through an interface (utun): no gateway
		}
		return Gateway{IP: gw, Interface: names[r.Index]}, nil
	}
	return Gateway{}, ErrNoGateway
}

// neighboursFromRoutes turns the RTF_LLINFO routes (what arp -an and
// ndp -an list) into neighbours: a host route whose gateway is the
// link-layer address. Entries still resolving (no address) are left out.
// State is "permanent" for static entries and otherwise unknown: the
// parsed messages do not carry the expiry time.
func neighboursFromRoutes(rs []routeRecord, names map[int]string) []Neighbour {
	var out []Neighbour
	for _, r := range rs {
		if r.Flags&darwinRTFLLInfo == 0 || r.Gateway.Link == nil || !r.Dst.IP.IsValid() {
			continue
		}
		if r.Flags&(darwinRTFBroadcast|darwinRTFMulticast) != 0 {
			continue
		}
		mac := formatMAC(r.Gateway.Link.Addr)
		if mac == "" {
			continue
		}
		idx := r.Index
		if idx == 0 {
			idx = r.Gateway.Link.Index
		}
		n := Neighbour{IP: r.Dst.IP.WithZone(""), MAC: mac, Interface: names[idx]}
		if n.Interface == "" {
			n.Interface = r.Gateway.Link.Name
		}
		if r.Flags&darwinRTFStatic != 0 {
			n.State = "permanent"
		}
		out = append(out, n)
	}
	return out
}

// stdInterface is what net.Interfaces tells about one interface.
type stdInterface struct {
	Name  string
	Index int
	MAC   []byte
	Flags net.Flags
	Addrs []netip.Prefix
}

// interfacesFromStd classifies macOS interfaces by flags and name. Wi-Fi
// cannot be told from Ethernet by name (en0 is Wi-Fi on a MacBook and
// Ethernet on an iMac), and telling them apart needs SystemConfiguration
// or IOKit, so every en* interface is KindEthernet. awdl, llw (Apple
// Wireless Direct Link), bridge, ap, anpi and vmenet interfaces are
// KindOther.
func interfacesFromStd(std []stdInterface) []Interface {
	out := make([]Interface, 0, len(std))
	for _, s := range std {
		ifi := Interface{
			Name:  s.Name,
			Index: s.Index,
			MAC:   formatMAC(s.MAC),
			Up:    s.Flags&net.FlagUp != 0 && s.Flags&net.FlagRunning != 0,
			Addrs: s.Addrs,
		}
		switch tk := TunnelKindOf(s.Name, ""); {
		case s.Flags&net.FlagLoopback != 0:
			ifi.Kind = KindLoopback
		case tk != "":
			ifi.Kind, ifi.TunnelKind = KindTunnel, tk
		case strings.HasPrefix(s.Name, "en") && ifi.MAC != "":
			ifi.Kind = KindEthernet
		default:
			ifi.Kind = KindOther
		}
		out = append(out, ifi)
	}
	return out
}

// darwinWiFi is the Wi-Fi status netinfo reports on macOS: unavailable.
// macOS 14 and later return the SSID and BSSID only to an executable the
// user authorised for Location Services (redacted or nil otherwise, from
// CoreWLAN, system_profiler and ioreg alike), which a launchd daemon does
// not get; and the airport tool is gone since 14.5.
func darwinWiFi() WiFiStatus {
	return WiFiStatus{Reason: "macOS 14 and later redact the SSID and BSSID for programs without Location Services authorisation, which a background daemon does not get"}
}

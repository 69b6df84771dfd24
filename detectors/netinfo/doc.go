// Package netinfo reads the network facts of a laptop that the
// colocation and geodrift detectors judge: the interfaces (kind, MAC,
// addresses, tunnels), the default IPv4 gateway with its MAC, the
// neighbour table and the Wi-Fi links (SSID, BSSID). It is a library,
// not a detector: it makes no observation and no finding, and it returns
// raw identifiers (MACs, SSIDs); hashing them before they leave the
// device is the detectors' job.
//
// Every function takes the *detectors.Host to read and dispatches on
// h.GOOS; an OS it cannot read gives an error wrapping
// errors.ErrUnsupported. A source that could be read only in part (a
// malformed line, one unreadable interface) gives what was read together
// with an error that names what was wrong, so bad input loses no data.
//
// # What lives here
//
// Plain Go, compiled and tested on every OS: the parsers of the Linux
// /proc/net files (procnet.go), the sysfs reader (linux.go), the
// decoders of the raw Windows IP Helper and Native Wi-Fi structures
// (windows_rows.go), the interpretation of macOS routing messages and
// interfaces (darwin_routes.go), the nl80211 answer (wifi.go), and the
// classifiers NormalizeMAC and TunnelKindOf. The thin files that call OS
// APIs copy what they get into bytes and records and interpret nothing:
// netinfo_windows.go, netinfo_darwin.go, nl80211_linux.go. Nothing here
// imports agent, transport or collector.
//
// # Linux (h.FS; nl80211 for Wi-Fi)
//
// Interfaces are sys/class/net/<if>: ifindex, address, type (ARPHRD),
// operstate, flags, uevent (DEVTYPE), tun_flags, wireless/ and
// phy80211, and the driver from device/uevent (DRIVER=) or the
// device/driver link. Kind: type 772 is loopback; tun_flags makes a tun
// or tap tunnel; DEVTYPE=wireguard a wireguard tunnel; type 512 a ppp
// tunnel; type 1 with wireless/, phy80211 or DEVTYPE=wlan is Wi-Fi; the
// IP-in-IP, SIT and GRE types, DEVTYPE xfrm/vti and other type-65534
// devices are tunnels; type 1 with a backing device and no DEVTYPE is
// Ethernet; software Ethernet (bridge, veth, bond, vlan, dummy) is
// "other". Up means operstate "up", or "unknown" with IFF_UP (lo, tun
// and wireguard report no carrier state).
//
// Addresses: IPv6 from proc/net/if_inet6; IPv4 from the "/32 host
// LOCAL" leaves of proc/net/fib_trie, each put on the interface, and
// given the prefix length, of the narrowest on-link route of
// proc/net/route that holds it (127/8 goes to the loopback). procfs
// names no interface for an IPv4 address, so one without such a route
// (its interface is down, or the local end of a point-to-point link with
// only a peer route) is left out; net.Interfaces, which asks rtnetlink,
// lists it.
//
// The gateway is the up default route of proc/net/route (the main
// table) with a gateway and the lowest metric. OpenVPN's 0.0.0.0/1 and
// 128.0.0.0/1 are not default routes, and wg-quick's full tunnel lives in
// its own table, so the gateway stays the LAN's router. Neighbours come
// from proc/net/arp: IPv4 only (procfs has no IPv6 neighbour table),
// complete entries only, with State "permanent" for static entries and
// "complete" otherwise (the file has no NUD state).
//
// Wi-Fi asks nl80211 through github.com/mdlayher/wifi: every station or
// P2P-client interface associated (or authenticated) with a BSS gives a
// link. Without cfg80211 in the kernel (no Wi-Fi stack, as on this
// project's CI VM) WiFi says Available=false with the reason. nl80211 is
// live: a test host's Wi-Fi is read with an injected source.
//
// # Windows (IP Helper and wlanapi.dll through golang.org/x/sys/windows)
//
// GetAdaptersAddresses gives the interfaces (FriendlyName, as
// net.Interfaces names them; IfIndex; MAC; OperStatus up; unicast
// addresses with their on-link prefix). A description or name that
// TunnelKindOf recognises ("Wintun", "WireGuard", "TAP-Windows", VPN
// client adapters) makes a tunnel whatever the IfType says; otherwise
// IfType 6 is Ethernet, 71 Wi-Fi, 24 loopback, 23 ppp, 131 a tunnel.
// GetIpForwardTable2(AF_INET) gives the gateway (the 0.0.0.0/0 row with a
// next hop and the lowest route metric). GetIpNetTable2, asked for
// AF_INET and AF_INET6 separately (Wine answers AF_UNSPEC, and AF_INET6,
// with ERROR_INVALID_FUNCTION; the IPv6 table is then left out), gives
// the neighbours in states probe, delay, stale, reachable and permanent.
// Wi-Fi: WlanOpenHandle, WlanEnumInterfaces and, for each connected
// interface, WlanQueryInterface(wlan_intf_opcode_current_connection).
// Windows 11 24H2 treats SSID and BSSID as location: without location
// consent the query fails with ERROR_ACCESS_DENIED, reported as
// Available=false with that reason, as is a stopped WLAN AutoConfig
// service or a missing wlanapi.dll. Under Wine there is no Wi-Fi
// interface: Available=true with no links.
//
// # macOS (routing sysctl through golang.org/x/net/route; net.Interfaces)
//
// The gateway is the first unscoped up default route through a gateway
// of NET_RT_DUMP (macOS keeps an RTF_IFSCOPE copy per network service,
// skipped). The neighbours are the RTF_LLINFO entries of NET_RT_FLAGS,
// IPv4 and IPv6 (what arp -an and ndp -an read, without exec or root);
// State is "permanent" for static entries and empty otherwise, as the
// parsed messages carry no expiry. Interfaces come from net.Interfaces,
// classified by flags and name: utun*, ipsec*, ppp*, tun*, tap*, gif*,
// stf* are tunnels (gif0 and stf0 exist, down, on every Mac); en* is
// Ethernet, including the Wi-Fi en0 of a MacBook, because telling Wi-Fi
// from Ethernet needs SystemConfiguration or IOKit; awdl, llw, bridge,
// ap, anpi and vmenet interfaces are "other". Up means IFF_UP and
// IFF_RUNNING. Wi-Fi is always Available=false: macOS 14 and later
// redact SSID and BSSID for programs without Location Services
// authorisation, which a daemon does not get (the airport tool is gone).
//
// # Tunnel kinds
//
// TunnelKindOf(name, description) is the classifier the OS readers use
// and that geodrift applies to interface names it gets elsewhere: "tun",
// "tap", "utun", "wintun", "ppp", "wireguard", "ipsec", or "tunnel" for
// other tunnels and VPN adapters; "" when neither the name nor the
// description says tunnel.
package netinfo

package netinfo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf16"
)

// Decoders of the raw structures the Windows IP Helper and Native Wi-Fi
// APIs return (netioapi.h, iptypes.h, wlanapi.h, 64-bit layouts). The
// shim in netinfo_windows.go copies the API's memory into byte slices and
// plain records; everything is interpreted here, on every OS, against
// byte fixtures.

// Address families of SOCKADDR_INET on Windows.
const (
	winAFInet  = 2
	winAFInet6 = 23
)

// Sizes of the structures, 64-bit Windows.
const (
	sockaddrInetSize  = 28  // SOCKADDR_INET
	ipNetRow2Size     = 88  // MIB_IPNET_ROW2
	ipForwardRow2Size = 104 // MIB_IPFORWARD_ROW2
	mibTableHeader    = 8   // NumEntries, padded to the rows' 8-byte alignment
	wlanIfInfoSize    = 532 // WLAN_INTERFACE_INFO
	wlanIfListHeader  = 8   // dwNumberOfItems, dwIndex
	wlanConnAttrSize  = 604 // WLAN_CONNECTION_ATTRIBUTES
)

// decodeSockaddrInet decodes a SOCKADDR_INET (sockaddr_in or
// sockaddr_in6; the IPv6 scope id is dropped, the interface is reported
// on its own). AF_UNSPEC gives the zero Addr.
func decodeSockaddrInet(b []byte) (netip.Addr, error) {
	if len(b) < sockaddrInetSize {
		return netip.Addr{}, fmt.Errorf("SOCKADDR_INET: %d bytes, want %d", len(b), sockaddrInetSize)
	}
	switch fam := binary.LittleEndian.Uint16(b); fam {
	case 0:
		return netip.Addr{}, nil
	case winAFInet:
		return netip.AddrFrom4([4]byte(b[4:8])), nil
	case winAFInet6:
		return netip.AddrFrom16([16]byte(b[8:24])), nil
	default:
		return netip.Addr{}, fmt.Errorf("SOCKADDR_INET: address family %d", fam)
	}
}

// ipNetRow is the part of a MIB_IPNET_ROW2 that netinfo uses.
type ipNetRow struct {
	IP      netip.Addr
	Index   uint32
	MAC     []byte
	State   uint32
	IsRoute bool
}

// nlNeighborStates names NL_NEIGHBOR_STATE values.
var nlNeighborStates = []string{"unreachable", "incomplete", "probe", "delay", "stale", "reachable", "permanent"}

// decodeIPNetTable2 decodes a MIB_IPNET_TABLE2: NumEntries, then 88-byte
// MIB_IPNET_ROW2 rows (Address SOCKADDR_INET at 0, InterfaceIndex at 28,
// InterfaceLuid at 32, PhysicalAddress[32] at 40, PhysicalAddressLength
// at 72, State at 76, Flags at 80 (bit 0 IsRouter), ReachabilityTime at
// 84).
func decodeIPNetTable2(b []byte) ([]ipNetRow, error) {
	rows, err := tableRows(b, ipNetRow2Size, "MIB_IPNET_TABLE2")
	if err != nil {
		return nil, err
	}
	out := make([]ipNetRow, 0, len(rows))
	var errs []error
	for i, r := range rows {
		ip, err := decodeSockaddrInet(r[0:28])
		if err != nil {
			errs = append(errs, fmt.Errorf("row %d: %w", i, err))
			continue
		}
		n := binary.LittleEndian.Uint32(r[72:76])
		if n > 32 {
			errs = append(errs, fmt.Errorf("row %d: physical address length %d", i, n))
			continue
		}
		out = append(out, ipNetRow{
			IP:      ip,
			Index:   binary.LittleEndian.Uint32(r[28:32]),
			MAC:     append([]byte(nil), r[40:40+n]...),
			State:   binary.LittleEndian.Uint32(r[76:80]),
			IsRoute: r[80]&1 != 0,
		})
	}
	return out, joinErrs("decode MIB_IPNET_TABLE2", errs)
}

// neighboursFromIPNet keeps the resolved unicast rows and names their
// interfaces.
func neighboursFromIPNet(rows []ipNetRow, names map[uint32]string) []Neighbour {
	var out []Neighbour
	for _, r := range rows {
		if r.State < 2 { // unreachable, incomplete
			continue
		}
		n := Neighbour{IP: r.IP, MAC: formatMAC(r.MAC), Interface: names[r.Index]}
		if n.Interface == "" {
			n.Interface = fmt.Sprintf("if%d", r.Index)
		}
		if int(r.State) < len(nlNeighborStates) {
			n.State = nlNeighborStates[r.State]
		}
		out = append(out, n)
	}
	return out
}

// forwardRow is the part of a MIB_IPFORWARD_ROW2 that netinfo uses.
type forwardRow struct {
	Index   uint32
	Dst     netip.Prefix
	NextHop netip.Addr
	Metric  uint32
}

// decodeIPForwardTable2 decodes a MIB_IPFORWARD_TABLE2: NumEntries, then
// 104-byte MIB_IPFORWARD_ROW2 rows (InterfaceLuid at 0, InterfaceIndex at
// 8, DestinationPrefix.Prefix SOCKADDR_INET at 12 and PrefixLength at 40,
// NextHop at 44, SitePrefixLength at 72, ValidLifetime at 76,
// PreferredLifetime at 80, Metric at 84, Protocol at 88, …).
func decodeIPForwardTable2(b []byte) ([]forwardRow, error) {
	rows, err := tableRows(b, ipForwardRow2Size, "MIB_IPFORWARD_TABLE2")
	if err != nil {
		return nil, err
	}
	out := make([]forwardRow, 0, len(rows))
	var errs []error
	for i, r := range rows {
		dst, err1 := decodeSockaddrInet(r[12:40])
		hop, err2 := decodeSockaddrInet(r[44:72])
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("row %d: %w", i, err))
			continue
		}
		pfx, err := dst.Prefix(int(r[40]))
		if err != nil || !dst.IsValid() {
			errs = append(errs, fmt.Errorf("row %d: destination %s/%d", i, dst, r[40]))
			continue
		}
		out = append(out, forwardRow{
			Index:   binary.LittleEndian.Uint32(r[8:12]),
			Dst:     pfx,
			NextHop: hop,
			Metric:  binary.LittleEndian.Uint32(r[84:88]),
		})
	}
	return out, joinErrs("decode MIB_IPFORWARD_TABLE2", errs)
}

// gatewayFromForward picks the IPv4 default route through a gateway with
// the lowest route metric (Windows adds the interface metric, which the
// row does not carry; the lowest route metric is the usual tie-break of
// the first hop the system prefers).
func gatewayFromForward(rows []forwardRow, names map[uint32]string) (Gateway, error) {
	best := -1
	for i, r := range rows {
		if !r.Dst.Addr().Is4() || r.Dst.Bits() != 0 || !r.NextHop.Is4() || r.NextHop.IsUnspecified() {
			continue
		}
		if best < 0 || r.Metric < rows[best].Metric {
			best = i
		}
	}
	if best < 0 {
		return Gateway{}, ErrNoGateway
	}
	gw := Gateway{IP: rows[best].NextHop, Interface: names[rows[best].Index]}
	if gw.Interface == "" {
		gw.Interface = fmt.Sprintf("if%d", rows[best].Index)
	}
	return gw, nil
}

// tableRows splits a MIB_*_TABLE2 into its rows.
func tableRows(b []byte, rowSize int, what string) ([][]byte, error) {
	if len(b) < mibTableHeader {
		return nil, fmt.Errorf("%s: %d bytes, shorter than its header", what, len(b))
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-mibTableHeader)/rowSize {
		return nil, fmt.Errorf("%s: %d entries do not fit in %d bytes", what, n, len(b))
	}
	rows := make([][]byte, n)
	for i := range rows {
		off := mibTableHeader + i*rowSize
		rows[i] = b[off : off+rowSize]
	}
	return rows, nil
}

// IF_TYPE_* of IP_ADAPTER_ADDRESSES.IfType (ipifcons.h).
const (
	ifTypeEthernet  = 6
	ifTypePPP       = 23
	ifTypeLoopback  = 24
	ifTypeIEEE80211 = 71
	ifTypeTunnel    = 131
	ifOperStatusUp  = 1
)

// adapterRecord is one IP_ADAPTER_ADDRESSES entry, copied out of the
// linked list by the Windows shim.
type adapterRecord struct {
	FriendlyName string // the name users and net.Interfaces see ("Wi-Fi")
	AdapterName  string // "{GUID}"
	Index        uint32 // IfIndex, else Ipv6IfIndex
	MAC          []byte
	IfType       uint32
	Description  string
	OperStatus   uint32
	Unicast      []unicastRecord
}

// unicastRecord is one IP_ADAPTER_UNICAST_ADDRESS: its SOCKET_ADDRESS
// bytes (a sockaddr_in or sockaddr_in6) and OnLinkPrefixLength.
type unicastRecord struct {
	Sockaddr     []byte
	PrefixLength uint8
}

// decodeSockaddr decodes a sockaddr_in (16 bytes) or sockaddr_in6 (28).
func decodeSockaddr(b []byte) (netip.Addr, error) {
	if len(b) < 2 {
		return netip.Addr{}, fmt.Errorf("sockaddr: %d bytes", len(b))
	}
	switch fam := binary.LittleEndian.Uint16(b); {
	case fam == winAFInet && len(b) >= 8:
		return netip.AddrFrom4([4]byte(b[4:8])), nil
	case fam == winAFInet6 && len(b) >= 24:
		return netip.AddrFrom16([16]byte(b[8:24])), nil
	default:
		return netip.Addr{}, fmt.Errorf("sockaddr: family %d in %d bytes", fam, len(b))
	}
}

// interfacesFromAdapters classifies Windows adapters. A description or
// name that TunnelKindOf recognises makes a tunnel whatever the IfType
// (TAP-Windows says it is Ethernet, Wintun and WireGuard say
// PROP_VIRTUAL); otherwise IfType decides.
func interfacesFromAdapters(ads []adapterRecord) ([]Interface, error) {
	out := make([]Interface, 0, len(ads))
	var errs []error
	for _, a := range ads {
		ifi := Interface{
			Name:        a.FriendlyName,
			Index:       int(a.Index),
			MAC:         formatMAC(a.MAC),
			Description: a.Description,
			Up:          a.OperStatus == ifOperStatusUp,
		}
		switch tk := TunnelKindOf(a.FriendlyName, a.Description); {
		case a.IfType == ifTypeLoopback:
			ifi.Kind = KindLoopback
		case tk != "":
			ifi.Kind, ifi.TunnelKind = KindTunnel, tk
		case a.IfType == ifTypeEthernet:
			ifi.Kind = KindEthernet
		case a.IfType == ifTypeIEEE80211:
			ifi.Kind = KindWiFi
		case a.IfType == ifTypePPP:
			ifi.Kind, ifi.TunnelKind = KindTunnel, "ppp"
		case a.IfType == ifTypeTunnel:
			ifi.Kind, ifi.TunnelKind = KindTunnel, "tunnel"
		default:
			ifi.Kind = KindOther
		}
		for _, u := range a.Unicast {
			ip, err := decodeSockaddr(u.Sockaddr)
			if err != nil {
				errs = append(errs, fmt.Errorf("adapter %s: %w", a.FriendlyName, err))
				continue
			}
			p, err := ip.Prefix(int(u.PrefixLength))
			if err != nil {
				errs = append(errs, fmt.Errorf("adapter %s: %s/%d: %w", a.FriendlyName, ip, u.PrefixLength, err))
				continue
			}
			ifi.Addrs = append(ifi.Addrs, netip.PrefixFrom(ip, p.Bits()))
		}
		out = append(out, ifi)
	}
	return out, joinErrs("decode adapters", errs)
}

// wlanInterface is one WLAN_INTERFACE_INFO.
type wlanInterface struct {
	GUID        string // "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}"
	Description string
	State       uint32 // WLAN_INTERFACE_STATE; 1 is connected
}

const wlanInterfaceStateConnected = 1

// decodeWlanInterfaceList decodes a WLAN_INTERFACE_INFO_LIST:
// dwNumberOfItems, dwIndex, then 532-byte WLAN_INTERFACE_INFO entries
// (InterfaceGuid at 0, strInterfaceDescription WCHAR[256] at 16,
// isState at 528).
func decodeWlanInterfaceList(b []byte) ([]wlanInterface, error) {
	if len(b) < wlanIfListHeader {
		return nil, fmt.Errorf("WLAN_INTERFACE_INFO_LIST: %d bytes, shorter than its header", len(b))
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > (len(b)-wlanIfListHeader)/wlanIfInfoSize {
		return nil, fmt.Errorf("WLAN_INTERFACE_INFO_LIST: %d entries do not fit in %d bytes", n, len(b))
	}
	out := make([]wlanInterface, n)
	for i := range out {
		e := b[wlanIfListHeader+i*wlanIfInfoSize:][:wlanIfInfoSize]
		out[i] = wlanInterface{
			GUID:        formatGUID(e[0:16]),
			Description: utf16z(e[16:528]),
			State:       binary.LittleEndian.Uint32(e[528:532]),
		}
	}
	return out, nil
}

// wlanConnection is the part of WLAN_CONNECTION_ATTRIBUTES netinfo uses.
type wlanConnection struct {
	State   uint32
	Profile string
	SSID    string
	BSSID   string
}

// decodeWlanConnection decodes WLAN_CONNECTION_ATTRIBUTES: isState at 0,
// wlanConnectionMode at 4, strProfileName WCHAR[256] at 8, then
// WLAN_ASSOCIATION_ATTRIBUTES at 520: DOT11_SSID (uSSIDLength at 520,
// ucSSID[32] at 524), dot11BssType at 556, dot11Bssid[6] at 560, …
func decodeWlanConnection(b []byte) (wlanConnection, error) {
	if len(b) < wlanConnAttrSize {
		return wlanConnection{}, fmt.Errorf("WLAN_CONNECTION_ATTRIBUTES: %d bytes, want %d", len(b), wlanConnAttrSize)
	}
	n := binary.LittleEndian.Uint32(b[520:524])
	if n > 32 {
		return wlanConnection{}, fmt.Errorf("WLAN_CONNECTION_ATTRIBUTES: SSID length %d", n)
	}
	return wlanConnection{
		State:   binary.LittleEndian.Uint32(b[0:4]),
		Profile: utf16z(b[8:520]),
		SSID:    string(b[524 : 524+n]),
		BSSID:   formatMAC(b[560:566]),
	}, nil
}

// formatGUID formats a Windows GUID (Data1..3 little-endian) as
// IP_ADAPTER_ADDRESSES.AdapterName does.
func formatGUID(b []byte) string {
	return fmt.Sprintf("{%08X-%04X-%04X-%X-%X}",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]), binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// utf16z decodes a NUL-terminated little-endian UTF-16 buffer.
func utf16z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// wifiFromWlan builds the Wi-Fi status from the WLAN interfaces, the
// connection attributes of the connected ones (by GUID) and adapter
// names (by upper-case GUID).
func wifiFromWlan(ifaces []wlanInterface, conns map[string]wlanConnection, names map[string]string) WiFiStatus {
	st := WiFiStatus{Available: true}
	for _, w := range ifaces {
		c, ok := conns[w.GUID]
		if !ok || w.State != wlanInterfaceStateConnected || c.State != wlanInterfaceStateConnected {
			continue
		}
		name := names[strings.ToUpper(w.GUID)]
		if name == "" {
			name = w.Description
		}
		st.Links = append(st.Links, WiFiLink{Interface: name, SSID: c.SSID, BSSID: c.BSSID})
	}
	return st
}

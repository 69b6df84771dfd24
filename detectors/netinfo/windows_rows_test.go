package netinfo

import (
	"encoding/binary"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

// putSockaddrInet writes a SOCKADDR_INET for a (sockaddr_in or
// sockaddr_in6, as Windows lays them out) into b[0:28].
func putSockaddrInet(b []byte, a netip.Addr) {
	switch {
	case a.Is4():
		binary.LittleEndian.PutUint16(b, winAFInet)
		v := a.As4()
		copy(b[4:8], v[:])
	case a.Is6():
		binary.LittleEndian.PutUint16(b, winAFInet6)
		v := a.As16()
		copy(b[8:24], v[:])
	}
}

// ipNetRowBytes builds one MIB_IPNET_ROW2.
func ipNetRowBytes(ip string, index uint32, mac []byte, state uint32) []byte {
	r := make([]byte, ipNetRow2Size)
	putSockaddrInet(r[0:28], netip.MustParseAddr(ip))
	binary.LittleEndian.PutUint32(r[28:], index)
	binary.LittleEndian.PutUint64(r[32:], uint64(index)<<48)
	copy(r[40:72], mac)
	binary.LittleEndian.PutUint32(r[72:], uint32(len(mac)))
	binary.LittleEndian.PutUint32(r[76:], state)
	return r
}

func table(rows ...[]byte) []byte {
	b := make([]byte, mibTableHeader)
	binary.LittleEndian.PutUint32(b, uint32(len(rows)))
	for _, r := range rows {
		b = append(b, r...)
	}
	return b
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWineTables decodes tables recorded under Wine 8 (this repository's
// CI prefix): its default route 0.0.0.0/0 via 192.0.2.1 on interface 4,
// and a neighbour table of nine rows, eight of them multicast mappings
// without a MAC.
func TestWineTables(t *testing.T) {
	t.Parallel()
	names := map[uint32]string{1: "lo", 4: "eth0"}
	fwd, err := decodeIPForwardTable2(readFixture(t, "testdata/windows/wine-ipforward-table2-inet.bin"))
	if err != nil || len(fwd) != 2 {
		t.Fatalf("forward table: %d rows, %v", len(fwd), err)
	}
	gw, err := gatewayFromForward(fwd, names)
	if err != nil || gw != (Gateway{IP: netip.MustParseAddr("192.0.2.1"), Interface: "eth0"}) {
		t.Errorf("gateway %+v, %v", gw, err)
	}
	rows, err := decodeIPNetTable2(readFixture(t, "testdata/windows/wine-ipnet-table2-inet.bin"))
	if err != nil || len(rows) != 9 {
		t.Fatalf("neighbour table: %d rows, %v", len(rows), err)
	}
	ns := slices.DeleteFunc(neighboursFromIPNet(rows, names), func(n Neighbour) bool { return !usableNeighbour(n) })
	want := []Neighbour{{IP: netip.MustParseAddr("192.0.2.1"), MAC: "02:fc:00:00:00:05", Interface: "eth0", State: "reachable"}}
	if !slices.Equal(ns, want) {
		t.Errorf("neighbours %+v, want %+v", ns, want)
	}
}

func TestDecodeIPNetTable2(t *testing.T) {
	t.Parallel()
	mac := []byte{0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e}
	b := table(
		ipNetRowBytes("fe80::21a:2bff:fe3c:4d5e", 12, mac, 4),
		ipNetRowBytes("192.168.1.9", 12, mac, 1),                // incomplete
		ipNetRowBytes("192.168.1.255", 12, bytesOf(0xff, 6), 6), // broadcast
		ipNetRowBytes("192.168.1.7", 99, []byte{0x01, 0x00, 0x5e, 0, 0, 1}, 5),
		ipNetRowBytes("192.168.1.8", 99, mac, 3),
	)
	rows, err := decodeIPNetTable2(b)
	if err != nil {
		t.Fatal(err)
	}
	ns := slices.DeleteFunc(neighboursFromIPNet(rows, map[uint32]string{12: "Wi-Fi"}), func(n Neighbour) bool { return !usableNeighbour(n) })
	want := []Neighbour{
		{IP: netip.MustParseAddr("fe80::21a:2bff:fe3c:4d5e"), MAC: "00:1a:2b:3c:4d:5e", Interface: "Wi-Fi", State: "stale"},
		{IP: netip.MustParseAddr("192.168.1.8"), MAC: "00:1a:2b:3c:4d:5e", Interface: "if99", State: "delay"},
	}
	if !slices.Equal(ns, want) {
		t.Errorf("got %+v\nwant %+v", ns, want)
	}

	bad := []struct {
		name string
		b    []byte
	}{
		{"short header", []byte{1, 0, 0}},
		{"more entries than bytes", append(table(ipNetRowBytes("10.0.0.1", 1, mac, 5)), 0)[:mibTableHeader+ipNetRow2Size-1]},
	}
	for _, tc := range bad {
		if _, err := decodeIPNetTable2(tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// A row of an unknown family is reported and the others are kept.
	odd := ipNetRowBytes("10.0.0.1", 1, mac, 5)
	binary.LittleEndian.PutUint16(odd, 99)
	rows, err = decodeIPNetTable2(table(odd, ipNetRowBytes("10.0.0.2", 1, mac, 5)))
	if err == nil || !strings.Contains(err.Error(), "family 99") || len(rows) != 1 || rows[0].IP != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("rows %+v, err %v", rows, err)
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func forwardRowBytes(index uint32, dst string, hop string, metric uint32) []byte {
	r := make([]byte, ipForwardRow2Size)
	binary.LittleEndian.PutUint32(r[8:], index)
	p := netip.MustParsePrefix(dst)
	putSockaddrInet(r[12:40], p.Addr())
	r[40] = byte(p.Bits())
	putSockaddrInet(r[44:72], netip.MustParseAddr(hop))
	binary.LittleEndian.PutUint32(r[84:], metric)
	return r
}

func TestGatewayFromForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rows [][]byte
		want Gateway
	}{
		{"lowest metric wins", [][]byte{
			forwardRowBytes(7, "0.0.0.0/0", "10.64.0.1", 35),
			forwardRowBytes(12, "0.0.0.0/0", "192.168.1.1", 25),
			forwardRowBytes(12, "192.168.1.0/24", "0.0.0.0", 0),
		}, Gateway{IP: netip.MustParseAddr("192.168.1.1"), Interface: "Wi-Fi"}},
		{"on-link default (a VPN adapter) is no gateway", [][]byte{
			forwardRowBytes(30, "0.0.0.0/0", "0.0.0.0", 0),
			forwardRowBytes(12, "0.0.0.0/0", "192.168.1.1", 25),
		}, Gateway{IP: netip.MustParseAddr("192.168.1.1"), Interface: "Wi-Fi"}},
		{"IPv6 default ignored", [][]byte{
			forwardRowBytes(12, "::/0", "fe80::1", 0),
		}, Gateway{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, err := decodeIPForwardTable2(table(tc.rows...))
			if err != nil {
				t.Fatal(err)
			}
			gw, err := gatewayFromForward(rows, map[uint32]string{12: "Wi-Fi", 7: "Ethernet"})
			if !tc.want.IP.IsValid() {
				if err != ErrNoGateway {
					t.Errorf("got %+v, %v; want ErrNoGateway", gw, err)
				}
				return
			}
			if err != nil || gw != tc.want {
				t.Errorf("got %+v, %v; want %+v", gw, err, tc.want)
			}
		})
	}
}

func sockaddr4(a string) []byte {
	b := make([]byte, 16)
	putSockaddrInet(b, netip.MustParseAddr(a))
	return b
}

func sockaddr6(a string) []byte {
	b := make([]byte, 28)
	putSockaddrInet(b, netip.MustParseAddr(a))
	return b
}

func TestInterfacesFromAdapters(t *testing.T) {
	t.Parallel()
	ads := []adapterRecord{
		{FriendlyName: "Wi-Fi", Index: 12, MAC: []byte{0x3c, 0xa9, 0xf4, 1, 2, 3}, IfType: ifTypeIEEE80211, Description: "Intel(R) Wi-Fi 6E AX211 160MHz", OperStatus: 1,
			Unicast: []unicastRecord{{sockaddr6("fe80::1c2:3:4:5"), 64}, {sockaddr4("192.168.1.23"), 24}}},
		{FriendlyName: "Ethernet", Index: 7, MAC: []byte{0x8c, 0x16, 0x45, 0, 0, 1}, IfType: ifTypeEthernet, Description: "Intel(R) Ethernet Connection (13) I219-LM", OperStatus: 2},
		{FriendlyName: "OpenVPN TAP-Windows6", Index: 20, MAC: []byte{0, 0xff, 0x11, 0x22, 0x33, 0x44}, IfType: ifTypeEthernet, Description: "TAP-Windows Adapter V9", OperStatus: 2},
		{FriendlyName: "OpenVPN Wintun", Index: 21, IfType: 53, Description: "Wintun Userspace Tunnel", OperStatus: 1, Unicast: []unicastRecord{{sockaddr4("10.8.0.6"), 24}}},
		{FriendlyName: "wg-office", Index: 22, IfType: 53, Description: "WireGuard Tunnel", OperStatus: 1},
		{FriendlyName: "Loopback Pseudo-Interface 1", Index: 1, IfType: ifTypeLoopback, Description: "Software Loopback Interface 1", OperStatus: 1,
			Unicast: []unicastRecord{{sockaddr4("127.0.0.1"), 8}, {[]byte{9, 0}, 8}}},
		{FriendlyName: "Teredo Tunneling Pseudo-Interface", Index: 14, IfType: ifTypeTunnel, Description: "Teredo Tunneling Pseudo-Interface", OperStatus: 2},
		{FriendlyName: "Broadband", Index: 25, IfType: ifTypePPP, Description: "WAN Miniport (PPPOE)", OperStatus: 1},
		{FriendlyName: "vEthernet (WSL)", Index: 40, MAC: []byte{0, 0x15, 0x5d, 1, 2, 3}, IfType: ifTypeEthernet, Description: "Hyper-V Virtual Ethernet Adapter", OperStatus: 1},
		{FriendlyName: "Bluetooth Network Connection", Index: 9, IfType: 6, Description: "Bluetooth Device (Personal Area Network)", MAC: []byte{0, 0, 0, 0, 0, 0}},
	}
	ifs, err := interfacesFromAdapters(ads)
	if err == nil || !strings.Contains(err.Error(), "Loopback Pseudo-Interface 1") {
		t.Errorf("the malformed loopback sockaddr was not reported: %v", err)
	}
	type want struct {
		kind   Kind
		tunnel string
		up     bool
		mac    string
		addrs  string
	}
	wants := map[string]want{
		"Wi-Fi":                             {KindWiFi, "", true, "3c:a9:f4:01:02:03", "[fe80::1c2:3:4:5/64 192.168.1.23/24]"},
		"Ethernet":                          {KindEthernet, "", false, "8c:16:45:00:00:01", "[]"},
		"OpenVPN TAP-Windows6":              {KindTunnel, "tap", false, "00:ff:11:22:33:44", "[]"},
		"OpenVPN Wintun":                    {KindTunnel, "wintun", true, "", "[10.8.0.6/24]"},
		"wg-office":                         {KindTunnel, "wireguard", true, "", "[]"},
		"Loopback Pseudo-Interface 1":       {KindLoopback, "", true, "", "[127.0.0.1/8]"},
		"Teredo Tunneling Pseudo-Interface": {KindTunnel, "tunnel", false, "", "[]"},
		"Broadband":                         {KindTunnel, "ppp", true, "", "[]"},
		"vEthernet (WSL)":                   {KindEthernet, "", true, "00:15:5d:01:02:03", "[]"},
		"Bluetooth Network Connection":      {KindEthernet, "", false, "", "[]"},
	}
	if len(ifs) != len(wants) {
		t.Fatalf("%d interfaces, want %d", len(ifs), len(wants))
	}
	for _, ifi := range ifs {
		w := wants[ifi.Name]
		if ifi.Kind != w.kind || ifi.TunnelKind != w.tunnel || ifi.Up != w.up || ifi.MAC != w.mac || fmtPrefixes(ifi.Addrs) != w.addrs {
			t.Errorf("%s: %+v, want %+v", ifi.Name, ifi, w)
		}
	}
}

func fmtPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// wlanListBytes builds a WLAN_INTERFACE_INFO_LIST.
func wlanListBytes(entries ...wlanInterface) []byte {
	b := make([]byte, wlanIfListHeader, wlanIfListHeader+len(entries)*wlanIfInfoSize)
	binary.LittleEndian.PutUint32(b, uint32(len(entries)))
	for _, e := range entries {
		r := make([]byte, wlanIfInfoSize)
		putGUID(r[0:16], e.GUID)
		putUTF16(r[16:528], e.Description)
		binary.LittleEndian.PutUint32(r[528:], e.State)
		b = append(b, r...)
	}
	return b
}

func putGUID(b []byte, s string) {
	var d1 uint32
	var d2, d3 uint16
	var d4 [8]byte
	s = strings.Trim(s, "{}")
	p := strings.Split(s, "-")
	parse := func(h string) uint64 {
		var v uint64
		for _, c := range h {
			v = v<<4 | uint64(strings.IndexRune("0123456789ABCDEF", c))
		}
		return v
	}
	d1, d2, d3 = uint32(parse(p[0])), uint16(parse(p[1])), uint16(parse(p[2]))
	binary.BigEndian.PutUint64(d4[:], parse(p[3])<<48|parse(p[4]))
	binary.LittleEndian.PutUint32(b, d1)
	binary.LittleEndian.PutUint16(b[4:], d2)
	binary.LittleEndian.PutUint16(b[6:], d3)
	copy(b[8:], d4[:])
}

func putUTF16(b []byte, s string) {
	for i, c := range utf16.Encode([]rune(s)) {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
}

// wlanConnBytes builds WLAN_CONNECTION_ATTRIBUTES.
func wlanConnBytes(state uint32, profile, ssid string, bssid []byte) []byte {
	b := make([]byte, wlanConnAttrSize)
	binary.LittleEndian.PutUint32(b, state)
	binary.LittleEndian.PutUint32(b[4:], 0) // wlan_connection_mode_profile
	putUTF16(b[8:520], profile)
	binary.LittleEndian.PutUint32(b[520:], uint32(len(ssid)))
	copy(b[524:556], ssid)
	binary.LittleEndian.PutUint32(b[556:], 1) // dot11_BSS_type_infrastructure
	copy(b[560:566], bssid)
	return b
}

func TestWlanDecode(t *testing.T) {
	t.Parallel()
	const g1, g2 = "{4D36E972-E325-11CE-BFC1-08002BE10318}", "{0A1B2C3D-0001-0002-0003-000000000004}"
	list, err := decodeWlanInterfaceList(wlanListBytes(
		wlanInterface{GUID: g1, Description: "Intel(R) Wi-Fi 6E AX211 160MHz", State: 1},
		wlanInterface{GUID: g2, Description: "TP-Link Wireless USB Adapter", State: 4}, // disconnected
	))
	if err != nil || len(list) != 2 || list[0].GUID != g1 || list[0].Description != "Intel(R) Wi-Fi 6E AX211 160MHz" || list[1].State != 4 {
		t.Fatalf("list %+v, %v", list, err)
	}
	c, err := decodeWlanConnection(wlanConnBytes(1, "Vodafone-7A21", "Vodafone-7A21", []byte{0xf0, 0x9f, 0xc2, 0x11, 0x22, 0x34}))
	if err != nil || c.SSID != "Vodafone-7A21" || c.Profile != "Vodafone-7A21" || c.BSSID != "f0:9f:c2:11:22:34" {
		t.Fatalf("connection %+v, %v", c, err)
	}
	st := wifiFromWlan(list, map[string]wlanConnection{g1: c}, map[string]string{strings.ToUpper(g1): "Wi-Fi"})
	want := WiFiStatus{Available: true, Links: []WiFiLink{{Interface: "Wi-Fi", SSID: "Vodafone-7A21", BSSID: "f0:9f:c2:11:22:34"}}}
	if !st.Available || !slices.Equal(st.Links, want.Links) {
		t.Errorf("status %+v, want %+v", st, want)
	}
	// Wine: WlanEnumInterfaces gives an empty list.
	empty, err := decodeWlanInterfaceList(wlanListBytes())
	if err != nil || len(empty) != 0 {
		t.Errorf("empty list: %+v, %v", empty, err)
	}
	if st := wifiFromWlan(empty, nil, nil); !st.Available || len(st.Links) != 0 {
		t.Errorf("no interfaces: %+v", st)
	}

	if _, err := decodeWlanConnection(make([]byte, 100)); err == nil {
		t.Error("short WLAN_CONNECTION_ATTRIBUTES: no error")
	}
	long := wlanConnBytes(1, "x", "x", nil)
	binary.LittleEndian.PutUint32(long[520:], 33)
	if _, err := decodeWlanConnection(long); err == nil {
		t.Error("SSID length 33: no error")
	}
	if _, err := decodeWlanInterfaceList([]byte{5, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("5 entries in an 8-byte list: no error")
	}
}

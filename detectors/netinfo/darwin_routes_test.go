package netinfo

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// macRIB is the IPv4 routing table of a MacBook on Wi-Fi (en0) with a
// Thunderbolt Ethernet (en7) plugged in and a utun VPN, as ParseRIB gives
// it (netstat -rn -f inet of the same machine: default via 192.168.1.1
// on en0, scoped copies for en7 and en0, the utun's split routes).
var macRIB = []routeRecord{
	{Flags: darwinRTFUp | darwinRTFGateway | darwinRTFStatic | 0x40000 /* PRCLONING */, Index: 6,
		Dst: ip("0.0.0.0"), Gateway: ip("192.168.1.1"), Netmask: ip("0.0.0.0")},
	{Flags: darwinRTFUp | darwinRTFGateway | darwinRTFStatic | darwinRTFIfScope, Index: 14,
		Dst: ip("0.0.0.0"), Gateway: ip("10.0.0.1"), Netmask: ip("0.0.0.0")},
	{Flags: darwinRTFUp | darwinRTFGateway | darwinRTFStatic | darwinRTFIfScope, Index: 6,
		Dst: ip("0.0.0.0"), Gateway: ip("192.168.1.1"), Netmask: ip("0.0.0.0")},
	{Flags: darwinRTFUp | darwinRTFStatic, Index: 20, Dst: ip("10.99.0.0"), Gateway: link(20, "utun3", nil), Netmask: ip("255.255.0.0")},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo, Index: 6, Dst: ip("192.168.1.1"), Gateway: link(6, "en0", []byte{0xf0, 0x9f, 0xc2, 0x11, 0x22, 0x33})},
}

// macLLInfo is what NET_RT_FLAGS/RTF_LLINFO gives on the same Mac (arp
// -an and ndp -an): the gateway, a printer, an entry still resolving, a
// static entry, the broadcast and multicast mappings and an IPv6 router.
var macLLInfo = []routeRecord{
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo | 0x20000, Index: 6, Dst: ip("192.168.1.1"), Gateway: link(6, "en0", []byte{0xf0, 0x9f, 0xc2, 0x11, 0x22, 0x33})},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo | 0x20000, Index: 6, Dst: ip("192.168.1.31"), Gateway: link(6, "en0", []byte{0x00, 0x1b, 0xa9, 0x4c, 0x5d, 0x6e})},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo | 0x20000, Index: 6, Dst: ip("192.168.1.90"), Gateway: link(6, "en0", nil)},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo | darwinRTFStatic, Index: 14, Dst: ip("10.0.0.2"), Gateway: link(14, "en7", []byte{2, 0, 0, 0, 0, 2})},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo | darwinRTFBroadcast, Index: 6, Dst: ip("192.168.1.255"), Gateway: link(6, "en0", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo | darwinRTFMulticast, Index: 6, Dst: ip("224.0.0.251"), Gateway: link(6, "en0", []byte{0x01, 0x00, 0x5e, 0, 0, 0xfb})},
	{Flags: darwinRTFUp | darwinRTFHost | darwinRTFLLInfo, Index: 0, Dst: ip("fe80::f29f:c2ff:fe11:2233"), Gateway: link(6, "en0", []byte{0xf0, 0x9f, 0xc2, 0x11, 0x22, 0x33})},
}

var macNames = map[int]string{1: "lo0", 6: "en0", 14: "en7", 20: "utun3"}

func ip(s string) routeAddr { return routeAddr{IP: netip.MustParseAddr(s)} }

func link(idx int, name string, mac []byte) routeAddr {
	return routeAddr{Link: &linkAddr{Index: idx, Name: name, Addr: mac}}
}

func TestGatewayFromRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rs   []routeRecord
		want Gateway
	}{
		{"primary default, scoped copies skipped", macRIB, Gateway{IP: netip.MustParseAddr("192.168.1.1"), Interface: "en0"}},
		{"only scoped defaults", macRIB[1:3], Gateway{}},
		{"default through an interface only (full-tunnel utun)", []routeRecord{
			{Flags: darwinRTFUp | darwinRTFGateway | darwinRTFStatic, Index: 20, Dst: ip("0.0.0.0"), Gateway: link(20, "utun3", nil)},
		}, Gateway{}},
		{"netmask absent (DefaultAddr)", []routeRecord{
			{Flags: darwinRTFUp | darwinRTFGateway, Index: 14, Dst: ip("0.0.0.0"), Gateway: ip("10.0.0.1")},
		}, Gateway{IP: netip.MustParseAddr("10.0.0.1"), Interface: "en7"}},
		{"rejected default", []routeRecord{
			{Flags: darwinRTFUp | darwinRTFGateway | darwinRTFReject, Index: 14, Dst: ip("0.0.0.0"), Gateway: ip("10.0.0.1")},
		}, Gateway{}},
		{"empty table", nil, Gateway{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw, err := gatewayFromRoutes(tc.rs, macNames)
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

func TestNeighboursFromRoutes(t *testing.T) {
	t.Parallel()
	ns := slices.DeleteFunc(neighboursFromRoutes(macLLInfo, macNames), func(n Neighbour) bool { return !usableNeighbour(n) })
	want := []Neighbour{
		{IP: netip.MustParseAddr("192.168.1.1"), MAC: "f0:9f:c2:11:22:33", Interface: "en0"},
		{IP: netip.MustParseAddr("192.168.1.31"), MAC: "00:1b:a9:4c:5d:6e", Interface: "en0"},
		{IP: netip.MustParseAddr("10.0.0.2"), MAC: "02:00:00:00:00:02", Interface: "en7", State: "permanent"},
		{IP: netip.MustParseAddr("fe80::f29f:c2ff:fe11:2233"), MAC: "f0:9f:c2:11:22:33", Interface: "en0"},
	}
	if !slices.Equal(ns, want) {
		t.Errorf("got %+v\nwant %+v", ns, want)
	}
	// The gateway's MAC comes from these entries.
	gw, _ := gatewayFromRoutes(macRIB, macNames)
	if mac := gatewayMAC(gw, ns); mac != "f0:9f:c2:11:22:33" {
		t.Errorf("gateway MAC %q", mac)
	}
}

func TestInterfacesFromStd(t *testing.T) {
	t.Parallel()
	up := net.FlagUp | net.FlagRunning | net.FlagBroadcast | net.FlagMulticast
	std := []stdInterface{
		{Name: "lo0", Index: 1, Flags: net.FlagUp | net.FlagRunning | net.FlagLoopback, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		{Name: "gif0", Index: 2, Flags: net.FlagPointToPoint | net.FlagMulticast},
		{Name: "stf0", Index: 3},
		{Name: "anpi0", Index: 4, MAC: []byte{0x2e, 1, 2, 3, 4, 5}, Flags: up},
		{Name: "en0", Index: 6, MAC: []byte{0x3c, 0xa9, 0xf4, 1, 2, 3}, Flags: up, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.23/24")}},
		{Name: "en7", Index: 14, MAC: []byte{0x00, 0xe0, 0x4c, 1, 2, 3}, Flags: net.FlagUp | net.FlagBroadcast},
		{Name: "awdl0", Index: 8, MAC: []byte{0x6a, 1, 2, 3, 4, 5}, Flags: up},
		{Name: "bridge0", Index: 9, MAC: []byte{0x36, 1, 2, 3, 4, 5}, Flags: up},
		{Name: "utun3", Index: 20, Flags: net.FlagUp | net.FlagRunning | net.FlagPointToPoint, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.1.7/32")}},
		{Name: "ipsec0", Index: 21, Flags: net.FlagUp | net.FlagRunning | net.FlagPointToPoint},
		{Name: "ppp0", Index: 22, Flags: net.FlagUp | net.FlagRunning | net.FlagPointToPoint},
	}
	want := map[string][2]string{
		"lo0": {"loopback", ""}, "gif0": {"tunnel", "tunnel"}, "stf0": {"tunnel", "tunnel"}, "anpi0": {"other", ""},
		"en0": {"ethernet", ""}, "en7": {"ethernet", ""}, "awdl0": {"other", ""}, "bridge0": {"other", ""},
		"utun3": {"tunnel", "utun"}, "ipsec0": {"tunnel", "ipsec"}, "ppp0": {"tunnel", "ppp"},
	}
	for _, ifi := range interfacesFromStd(std) {
		if w := want[ifi.Name]; string(ifi.Kind) != w[0] || ifi.TunnelKind != w[1] {
			t.Errorf("%s: %s/%s, want %s/%s", ifi.Name, ifi.Kind, ifi.TunnelKind, w[0], w[1])
		}
		if ifi.Name == "en7" && ifi.Up {
			t.Error("en7 is up but not running (no carrier): want Up false")
		}
		if ifi.Name == "en0" && (!ifi.Up || ifi.MAC != "3c:a9:f4:01:02:03") {
			t.Errorf("en0: %+v", ifi)
		}
	}
}

func TestDarwinWiFi(t *testing.T) {
	t.Parallel()
	if st := darwinWiFi(); st.Available || len(st.Links) != 0 || !strings.Contains(st.Reason, "Location Services") {
		t.Errorf("status %+v", st)
	}
}

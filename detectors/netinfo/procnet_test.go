package netinfo

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseProcRoute(t *testing.T) {
	t.Parallel()
	const hdr = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	rs, err := parseProcRoute([]byte(hdr +
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
		"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FF00FF\t0\t0\t0\n" + // non-contiguous mask
		"eth0\t0001A8C0\t0000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n" + // 7-digit gateway
		"eth0\t0001A8C0\n" +
		"\n"))
	want := []routeEntry{
		{Iface: "eth0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.168.1.1"), Flags: 3, Metric: 100},
		{Iface: "eth0", Dst: netip.MustParsePrefix("192.168.1.0/24"), Gateway: netip.MustParseAddr("0.0.0.0"), Flags: 1, Metric: 100},
	}
	if !slices.Equal(rs, want) {
		t.Errorf("got %+v\nwant %+v", rs, want)
	}
	for _, s := range []string{"line 4", "not contiguous", "line 5", "line 6"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %q", err, s)
		}
	}
}

func TestParseProcARP(t *testing.T) {
	t.Parallel()
	ns, err := parseProcARP([]byte("IP address       HW type     Flags       HW address            Mask     Device\n" +
		"10.0.0.1         0x1         0x2         02:00:00:00:00:01     *        eth0\n" +
		"10.0.0.2         0x1         0x0         00:00:00:00:00:00     *        eth0\n" +
		"10.0.0.3         0x1         0x6         02:00:00:00:00:03     *        eth0\n" +
		"10.0.0.4         0x20        0x2         80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:1b:2c     *        ib0\n" +
		"fe80::1          0x1         0x2         02:00:00:00:00:05     *        eth0\n" +
		"10.0.0.6         0x1         0xZ         02:00:00:00:00:06     *        eth0\n" +
		"10.0.0.7 0x1 0x2\n"))
	want := []Neighbour{
		{IP: netip.MustParseAddr("10.0.0.1"), MAC: "02:00:00:00:00:01", Interface: "eth0", State: "complete"},
		{IP: netip.MustParseAddr("10.0.0.3"), MAC: "02:00:00:00:00:03", Interface: "eth0", State: "permanent"},
	}
	if !slices.Equal(ns, want) {
		t.Errorf("got %+v\nwant %+v", ns, want)
	}
	for _, s := range []string{"line 6", "line 7", "line 8"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %q", err, s)
		}
	}
}

func TestParseFibTrie(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/linux/home-laptop/proc/net/fib_trie")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseFibTrie(data)
	want := []netip.Addr{
		netip.MustParseAddr("10.8.0.2"), netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("172.17.0.1"), netip.MustParseAddr("192.168.1.23"),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}

	bad := []struct{ name, in, msg string }{
		{"entry before a leaf", "Main:\n        /32 host LOCAL\n", "outside a leaf"},
		{"leaf not IPv4", "Main:\n  |-- 10.0.0.x\n     /32 host LOCAL\n", "not an IPv4"},
		{"short entry", "Main:\n  |-- 10.0.0.1\n     /32 host\n", "fields"},
		{"bad length", "Main:\n  |-- 10.0.0.1\n     /33 host LOCAL\n", "prefix length"},
		{"stray text", "Main:\nhello world\n", "not a fib_trie line"},
	}
	for _, tc := range bad {
		got, err := parseFibTrie([]byte(tc.in + "  |-- 10.9.9.9\n     /32 host LOCAL\n"))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.msg)
		}
		if !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.9.9.9")}) {
			t.Errorf("%s: the good leaf after the bad line was lost: %v", tc.name, got)
		}
	}
}

func TestParseIfInet6(t *testing.T) {
	t.Parallel()
	es, err := parseIfInet6([]byte("00000000000000000000000000000001 01 80 10 80       lo\n" +
		"fe80000000000000b62e99fffe010203 02 40 20 80     eno1\n" +
		"fe80000000000000b62e99fffe01020Z 02 40 20 80     eno1\n" +
		"fe80000000000000b62e99fffe010203 02 ff 20 80     eno1\n" +
		"short\n"))
	want := []inet6Entry{
		{Prefix: netip.MustParsePrefix("::1/128"), Index: 1, Iface: "lo"},
		{Prefix: netip.MustParsePrefix("fe80::b62e:99ff:fe01:203/64"), Index: 2, Iface: "eno1"},
	}
	if !slices.Equal(es, want) {
		t.Errorf("got %+v\nwant %+v", es, want)
	}
	for _, s := range []string{"line 3", "line 4", "line 5"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %q", err, s)
		}
	}
}

func TestJoinErrsCaps(t *testing.T) {
	t.Parallel()
	_, err := parseProcARP([]byte(strings.Repeat("x\n", 9)))
	if err == nil || !strings.Contains(err.Error(), "9 malformed lines") || !strings.Contains(err.Error(), "and 4 more") {
		t.Errorf("error %v", err)
	}
}

// The fuzz targets check that no input panics, that the parsers keep the
// shape of what they return, and that well-formed rows survive garbage.

func FuzzParseProcRoute(f *testing.F) {
	for _, d := range []string{"home-laptop", "wired-desktop", "no-default-route"} {
		if b, err := os.ReadFile("testdata/linux/" + d + "/proc/net/route"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\tFFFF00FF\t0\t0\t0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, _ := parseProcRoute(data)
		for _, r := range rs {
			if !r.Dst.IsValid() || !r.Dst.Addr().Is4() || r.Dst != r.Dst.Masked() || !r.Gateway.Is4() {
				t.Fatalf("bad entry %+v", r)
			}
		}
		defaultRoute(rs)
	})
}

func FuzzParseProcARP(f *testing.F) {
	for _, d := range []string{"home-laptop", "wired-desktop"} {
		if b, err := os.ReadFile("testdata/linux/" + d + "/proc/net/arp"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("10.0.0.1 0x1 0x6 A:B:C:D:E:F * eth0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ns, _ := parseProcARP(data)
		for _, n := range ns {
			if !n.IP.Is4() || n.MAC == "" || NormalizeMAC(n.MAC) != n.MAC || n.Interface == "" {
				t.Fatalf("bad neighbour %+v", n)
			}
		}
	})
}

func FuzzParseFibTrie(f *testing.F) {
	for _, d := range []string{"home-laptop", "wired-desktop", "no-default-route"} {
		if b, err := os.ReadFile("testdata/linux/" + d + "/proc/net/fib_trie"); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		as, _ := parseFibTrie(data)
		seen := map[netip.Addr]bool{}
		for _, a := range as {
			if !a.Is4() || seen[a] {
				t.Fatalf("bad or repeated address %v in %v", a, as)
			}
			seen[a] = true
		}
	})
}

func FuzzParseIfInet6(f *testing.F) {
	if b, err := os.ReadFile("testdata/linux/home-laptop/proc/net/if_inet6"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		es, _ := parseIfInet6(data)
		for _, e := range es {
			if !e.Prefix.IsValid() || !e.Prefix.Addr().Is6() {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

func FuzzNormalizeMAC(f *testing.F) {
	for _, s := range []string{"AA:BB:CC:DD:EE:FF", "a:b:c:d:e:f", "3CA9F4123456", "0:0:0:0:0:0", "aa-bb-cc-dd-ee-ff-00-11"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := NormalizeMAC(s)
		if m != "" && NormalizeMAC(m) != m {
			t.Fatalf("NormalizeMAC(%q) = %q is not a fixed point", s, m)
		}
		if m != "" && len(m) != 17 && len(m) != 23 {
			t.Fatalf("NormalizeMAC(%q) = %q", s, m)
		}
	})
}

// FuzzWindowsTables feeds arbitrary bytes to the decoders of the raw
// Windows structures, which read lengths and counts from their input.
func FuzzWindowsTables(f *testing.F) {
	for _, p := range []string{"testdata/windows/wine-ipnet-table2-inet.bin", "testdata/windows/wine-ipforward-table2-inet.bin"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeIPNetTable2(b)
		decodeIPForwardTable2(b)
		decodeWlanInterfaceList(b)
		decodeWlanConnection(b)
		decodeSockaddr(b)
	})
}

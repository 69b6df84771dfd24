package netinfo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/mdlayher/wifi"
	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/detectors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtureHost is a Linux host whose filesystem is a recorded tree.
func fixtureHost(t *testing.T, fsys fs.FS) *detectors.Host {
	return &detectors.Host{GOOS: "linux", GOARCH: "amd64", FS: fsys, Log: zaptest.NewLogger(t)}
}

// linuxResult is everything netinfo reads from one Linux tree.
type linuxResult struct {
	Interfaces      []Interface `json:"interfaces"`
	InterfacesError string      `json:"interfaces_error,omitempty"`
	Gateway         Gateway     `json:"gateway"`
	GatewayError    string      `json:"gateway_error,omitempty"`
	Neighbours      []Neighbour `json:"neighbours"`
	NeighboursError string      `json:"neighbours_error,omitempty"`
	WiFi            WiFiStatus  `json:"wifi"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func readLinux(t *testing.T, fsys fs.FS, nl nl80211Source) linuxResult {
	t.Helper()
	h := fixtureHost(t, fsys)
	ctx := t.Context()
	var r linuxResult
	var err error
	r.Interfaces, err = Interfaces(ctx, h)
	r.InterfacesError = errString(err)
	r.Gateway, err = DefaultGateway(ctx, h)
	r.GatewayError = errString(err)
	r.Neighbours, err = Neighbours(ctx, h)
	r.NeighboursError = errString(err)
	r.WiFi, err = linuxWiFi(ctx, h, nl)
	if err != nil {
		t.Fatalf("linuxWiFi: %v", err)
	}
	return r
}

// homeNL80211 is what nl80211 answers on the home laptop: wlp2s0
// associated with the home access point, and a P2P device without a
// netdev.
func homeNL80211(context.Context) ([]nlInterface, error) {
	return []nlInterface{
		{
			Ifi: &wifi.Interface{Index: 3, Name: "wlp2s0", HardwareAddr: net.HardwareAddr{0x3c, 0xa9, 0xf4, 0x12, 0x34, 0x56}, PHY: 0, Type: wifi.InterfaceTypeStation, Frequency: 5180},
			BSS: &wifi.BSS{SSID: "Vodafone-7A21", BSSID: net.HardwareAddr{0xf0, 0x9f, 0xc2, 0x11, 0x22, 0x34}, Frequency: 5180, Status: wifi.BSSStatusAssociated},
		},
		{Ifi: &wifi.Interface{Index: 0, Name: "", PHY: 0, Device: 2, Type: wifi.InterfaceTypeP2PDevice}},
	}, nil
}

func noNL80211(context.Context) ([]nlInterface, error) {
	return nil, &os.SyscallError{Syscall: "netlink receive", Err: fs.ErrNotExist}
}

func TestLinuxFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir   string
		nl    nl80211Source
		check func(t *testing.T, r linuxResult)
	}{
		{"home-laptop", homeNL80211, func(t *testing.T, r linuxResult) {
			want := map[string]struct {
				kind   Kind
				tunnel string
				up     bool
				addrs  []string
			}{
				"lo":        {KindLoopback, "", true, []string{"127.0.0.1/8", "::1/128"}},
				"enp0s31f6": {KindEthernet, "", false, nil},
				"wlp2s0":    {KindWiFi, "", true, []string{"192.168.1.23/24", "2a01:4f8:c0c1:1234::17/64", "fe80::3ea9:f4ff:fe12:3456/64"}},
				"docker0":   {KindOther, "", false, []string{"172.17.0.1/16"}},
				"wg0":       {KindTunnel, "wireguard", true, []string{"10.8.0.2/24", "fd00:8::2/64"}},
			}
			checkInterfaces(t, r.Interfaces, want)
			if r.Gateway.IP != netip.MustParseAddr("192.168.1.1") || r.Gateway.Interface != "wlp2s0" || r.Gateway.MAC != "f0:9f:c2:11:22:33" {
				t.Errorf("gateway %+v", r.Gateway)
			}
			if len(r.Neighbours) != 3 { // the incomplete 192.168.1.77 is left out
				t.Errorf("neighbours %+v", r.Neighbours)
			}
			if !r.WiFi.Available || len(r.WiFi.Links) != 1 || r.WiFi.Links[0] != (WiFiLink{Interface: "wlp2s0", SSID: "Vodafone-7A21", BSSID: "f0:9f:c2:11:22:34"}) {
				t.Errorf("wifi %+v", r.WiFi)
			}
		}},
		{"wired-desktop", noNL80211, func(t *testing.T, r linuxResult) {
			want := map[string]struct {
				kind   Kind
				tunnel string
				up     bool
				addrs  []string
			}{
				"lo":      {KindLoopback, "", true, []string{"127.0.0.1/8", "::1/128"}},
				"eno1":    {KindEthernet, "", true, []string{"192.168.1.31/24", "fe80::b62e:99ff:fe01:203/64"}},
				"tun0":    {KindTunnel, "tun", true, []string{"10.8.8.6/24"}},
				"tap-lab": {KindTunnel, "tap", false, nil},
				// 192.168.254.9 is the PPP end of a point-to-point link
				// without a subnet route: procfs cannot place it.
				"ppp0": {KindTunnel, "ppp", true, nil},
			}
			checkInterfaces(t, r.Interfaces, want)
			// OpenVPN's 0.0.0.0/1 + 128.0.0.0/1 are not the default route;
			// of the two defaults the lower metric wins.
			if r.Gateway != (Gateway{IP: netip.MustParseAddr("192.168.1.254"), MAC: "00:1a:2b:3c:4d:5e", Interface: "eno1"}) {
				t.Errorf("gateway %+v", r.Gateway)
			}
			if i := slices.IndexFunc(r.Neighbours, func(n Neighbour) bool { return n.IP == netip.MustParseAddr("192.168.1.10") }); i < 0 ||
				r.Neighbours[i].State != "permanent" || r.Neighbours[i].MAC != "00:11:22:33:44:55" {
				t.Errorf("static neighbour missing or wrong: %+v", r.Neighbours)
			}
			if r.WiFi.Available || r.WiFi.Reason == "" || len(r.WiFi.Links) != 0 {
				t.Errorf("wifi %+v", r.WiFi)
			}
		}},
		{"no-default-route", noNL80211, func(t *testing.T, r linuxResult) {
			if r.GatewayError != ErrNoGateway.Error() {
				t.Errorf("gateway error %q, want ErrNoGateway", r.GatewayError)
			}
			if len(r.Neighbours) != 0 || r.NeighboursError != "" {
				t.Errorf("neighbours %+v, %s", r.Neighbours, r.NeighboursError)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			r := readLinux(t, os.DirFS(filepath.Join("testdata", "linux", tc.dir)), tc.nl)
			if r.InterfacesError != "" || r.NeighboursError != "" {
				t.Errorf("errors reading a well-formed tree: %q %q", r.InterfacesError, r.NeighboursError)
			}
			tc.check(t, r)
			compareGolden(t, filepath.Join("testdata", "linux", tc.dir+".golden.json"), r)
		})
	}
}

func checkInterfaces(t *testing.T, ifs []Interface, want map[string]struct {
	kind   Kind
	tunnel string
	up     bool
	addrs  []string
}) {
	t.Helper()
	if len(ifs) != len(want) {
		t.Errorf("%d interfaces, want %d: %+v", len(ifs), len(want), ifs)
	}
	for _, ifi := range ifs {
		w, ok := want[ifi.Name]
		if !ok {
			t.Errorf("unexpected interface %+v", ifi)
			continue
		}
		var addrs []string
		for _, a := range ifi.Addrs {
			addrs = append(addrs, a.String())
		}
		slices.Sort(addrs)
		slices.Sort(w.addrs)
		if ifi.Kind != w.kind || ifi.TunnelKind != w.tunnel || ifi.Up != w.up || !slices.Equal(addrs, w.addrs) {
			t.Errorf("%s: kind %s/%s up %v addrs %v; want %s/%s up %v addrs %v",
				ifi.Name, ifi.Kind, ifi.TunnelKind, ifi.Up, addrs, w.kind, w.tunnel, w.up, w.addrs)
		}
		if ifi.MAC != "" && NormalizeMAC(ifi.MAC) != ifi.MAC {
			t.Errorf("%s: MAC %q not normalised", ifi.Name, ifi.MAC)
		}
	}
}

// compareGolden compares v, as indented JSON, with a golden file;
// -update rewrites it.
func compareGolden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n")), got) {
		t.Errorf("%s differs from what was read:\n%s", path, got)
	}
}

// TestLinuxBrokenSources checks that a tree with unreadable or malformed
// sources still gives what it can, with an error saying what was wrong.
func TestLinuxBrokenSources(t *testing.T) {
	t.Parallel()
	base := fstest.MapFS{
		"sys/class/net/lo/ifindex":         {Data: []byte("1\n")},
		"sys/class/net/lo/type":            {Data: []byte("772\n")},
		"sys/class/net/lo/operstate":       {Data: []byte("unknown\n")},
		"sys/class/net/lo/flags":           {Data: []byte("0x9\n")},
		"sys/class/net/eth0/ifindex":       {Data: []byte("2\n")},
		"sys/class/net/eth0/type":          {Data: []byte("1\n")},
		"sys/class/net/eth0/address":       {Data: []byte("02:00:00:00:00:01\n")},
		"sys/class/net/eth0/operstate":     {Data: []byte("up\n")},
		"sys/class/net/eth0/device/driver": {Data: []byte("../../../bus/pci/drivers/igb"), Mode: fs.ModeSymlink},
		"sys/class/net/bad/ifindex":        {Data: []byte("x\n")},
		"proc/net/route": {Data: []byte("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n" +
			"eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
			"eth0\tZZ\n" +
			"eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")},
		"proc/net/fib_trie": {Data: []byte("Main:\n  +-- 10.0.0.0/24 2 0 2\n     |-- 10.0.0.9\n        /32 host LOCAL\n")},
		"proc/net/arp": {Data: []byte("IP address HW type Flags HW address Mask Device\n" +
			"10.0.0.1 0x1 0x2 02:00:00:00:00:fe * eth0\n" +
			"garbage\n")},
	}
	h := fixtureHost(t, base)
	ifs, err := Interfaces(t.Context(), h)
	if err == nil {
		t.Error("no error for interface bad with an unreadable ifindex and a malformed route line")
	}
	if len(ifs) != 2 || ifs[1].Name != "eth0" || ifs[1].Description != "igb" || ifs[1].Kind != KindEthernet ||
		!slices.Equal(ifs[1].Addrs, []netip.Prefix{netip.MustParsePrefix("10.0.0.9/24")}) {
		t.Errorf("interfaces %+v", ifs)
	}
	gw, err := DefaultGateway(t.Context(), h)
	if err == nil || gw.IP != netip.MustParseAddr("10.0.0.1") || gw.MAC != "02:00:00:00:00:fe" {
		t.Errorf("gateway %+v, %v: want 10.0.0.1 with its MAC and the malformed lines reported", gw, err)
	}
	ns, err := Neighbours(t.Context(), h)
	if err == nil || len(ns) != 1 {
		t.Errorf("neighbours %+v, %v", ns, err)
	}

	empty := fixtureHost(t, fstest.MapFS{})
	if _, err := Interfaces(t.Context(), empty); err == nil {
		t.Error("Interfaces of a tree without sys/class/net: no error")
	}
	if _, err := DefaultGateway(t.Context(), empty); err == nil || errors.Is(err, ErrNoGateway) {
		t.Errorf("DefaultGateway without proc/net/route: %v, want a read error", err)
	}
	if _, err := Neighbours(t.Context(), empty); err == nil {
		t.Error("Neighbours without proc/net/arp: no error")
	}
}

package netinfo

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/detectors"
)

// TestLiveHost reads this machine (Linux here, Windows under Wine) and
// checks the interfaces against the standard library's view, which reads
// them another way (rtnetlink on Linux, the same IP Helper call on
// Windows): same names, indexes and MACs. The gateway, when there is one,
// must sit on a listed interface that is up and have an address on it.
func TestLiveHost(t *testing.T) {
	h := detectors.SystemHost(zaptest.NewLogger(t))
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		t.Skipf("netinfo does not read %s", runtime.GOOS)
	}
	ifs, err := Interfaces(t.Context(), h)
	if err != nil {
		t.Fatalf("Interfaces: %v", err)
	}
	std, err := net.Interfaces()
	if err != nil {
		t.Fatalf("net.Interfaces: %v", err)
	}
	if len(ifs) != len(std) {
		t.Errorf("%d interfaces, net.Interfaces has %d", len(ifs), len(std))
	}
	byName := map[string]Interface{}
	for _, ifi := range ifs {
		byName[ifi.Name] = ifi
	}
	for _, s := range std {
		ifi, ok := byName[s.Name]
		if !ok {
			t.Errorf("interface %s (index %d) missing", s.Name, s.Index)
			continue
		}
		if ifi.Index != s.Index {
			t.Errorf("%s: index %d, net says %d", s.Name, ifi.Index, s.Index)
		}
		if want := NormalizeMAC(s.HardwareAddr.String()); ifi.MAC != want {
			t.Errorf("%s: MAC %q, net says %q", s.Name, ifi.MAC, want)
		}
		if ifi.Up && s.Flags&net.FlagUp == 0 {
			t.Errorf("%s: up, net says it is administratively down", s.Name)
		}
		if (ifi.Kind == KindLoopback) != (s.Flags&net.FlagLoopback != 0) {
			t.Errorf("%s: kind %s, net loopback flag %v", s.Name, ifi.Kind, s.Flags&net.FlagLoopback != 0)
		}
		addrs, err := s.Addrs()
		if err != nil {
			t.Fatalf("%s addrs: %v", s.Name, err)
		}
		// Every address we report is one net reports (net may list more on
		// Linux: an IPv4 address without an on-link route cannot be
		// placed from procfs).
		for _, p := range ifi.Addrs {
			if !slices.ContainsFunc(addrs, func(a net.Addr) bool {
				n, ok := a.(*net.IPNet)
				ones, _ := n.Mask.Size()
				return ok && n.IP.Equal(net.IP(p.Addr().AsSlice())) && ones == p.Bits()
			}) {
				t.Errorf("%s: address %s not among net's %v", s.Name, p, addrs)
			}
		}
		t.Logf("%+v", ifi)
	}

	gw, err := DefaultGateway(t.Context(), h)
	switch {
	case errors.Is(err, ErrNoGateway):
		if os.Getenv("CI") == "true" {
			t.Fatalf("no default gateway on the CI host: %v", err)
		}
		t.Skipf("this host has no default IPv4 gateway: %v", err)
	case err != nil:
		t.Fatalf("DefaultGateway: %v", err)
	}
	t.Logf("gateway %+v", gw)
	gi, ok := byName[gw.Interface]
	if !ok {
		t.Fatalf("gateway interface %q not listed", gw.Interface)
	}
	if !slices.ContainsFunc(gi.Addrs, func(p netip.Prefix) bool { return p.Contains(gw.IP) }) {
		t.Logf("gateway %s is not in a subnet of %s %v (a point-to-point route)", gw.IP, gi.Name, gi.Addrs)
	}

	ns, err := Neighbours(t.Context(), h)
	if err != nil {
		t.Fatalf("Neighbours: %v", err)
	}
	for _, n := range ns {
		if _, ok := byName[n.Interface]; !ok {
			t.Errorf("neighbour %+v on an unlisted interface", n)
		}
		if NormalizeMAC(n.MAC) != n.MAC || n.MAC == "" {
			t.Errorf("neighbour %+v: MAC not normalised", n)
		}
	}
	t.Logf("%d neighbours", len(ns))

	w, err := WiFi(t.Context(), h)
	if err != nil {
		t.Fatalf("WiFi: %v", err)
	}
	if !w.Available && w.Reason == "" {
		t.Errorf("Wi-Fi unavailable without a reason")
	}
	t.Logf("wifi %+v", w)
}

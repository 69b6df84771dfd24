package netinfo

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/fstest"

	"github.com/farmwatch/farmwatch/detectors"
)

// TestDispatch checks that every function refuses an OS it cannot read
// with an error wrapping errors.ErrUnsupported: an unknown GOOS always,
// and Windows or macOS from a binary built for another OS.
func TestDispatch(t *testing.T) {
	t.Parallel()
	goos := []string{"plan9", "freebsd"}
	for _, g := range []string{"windows", "darwin"} {
		if runtime.GOOS != g {
			goos = append(goos, g)
		}
	}
	for _, g := range goos {
		h := &detectors.Host{GOOS: g, FS: fstest.MapFS{}}
		_, e1 := Interfaces(t.Context(), h)
		_, e2 := DefaultGateway(t.Context(), h)
		_, e3 := Neighbours(t.Context(), h)
		_, e4 := WiFi(t.Context(), h)
		for i, err := range []error{e1, e2, e3, e4} {
			if !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ErrNoGateway) {
				t.Errorf("%s: call %d: %v, want ErrUnsupported", g, i, err)
			}
		}
	}
}

func TestGatewayMAC(t *testing.T) {
	t.Parallel()
	gw := Gateway{IP: netip.MustParseAddr("192.168.1.1"), Interface: "wlan0"}
	ns := []Neighbour{
		{IP: netip.MustParseAddr("192.168.1.1"), MAC: "02:00:00:00:00:01", Interface: "docker0"},
		{IP: netip.MustParseAddr("192.168.1.1"), MAC: "02:00:00:00:00:02", Interface: "wlan0"},
	}
	if m := gatewayMAC(gw, ns); m != "02:00:00:00:00:02" {
		t.Errorf("MAC %q: want the entry on the gateway's interface", m)
	}
	if m := gatewayMAC(gw, ns[:1]); m != "02:00:00:00:00:01" {
		t.Errorf("MAC %q: want the entry on another interface when it is the only one", m)
	}
	if m := gatewayMAC(gw, nil); m != "" {
		t.Errorf("MAC %q from an empty table", m)
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h := fixtureHost(t, os.DirFS(filepath.Join("testdata", "linux", "home-laptop")))
	if _, err := Interfaces(ctx, h); !errors.Is(err, context.Canceled) {
		t.Errorf("Interfaces: %v, want context.Canceled", err)
	}
	if _, err := DefaultGateway(ctx, h); !errors.Is(err, context.Canceled) {
		t.Errorf("DefaultGateway: %v, want context.Canceled", err)
	}
	if _, err := Neighbours(ctx, h); !errors.Is(err, context.Canceled) {
		t.Errorf("Neighbours: %v, want context.Canceled", err)
	}
}

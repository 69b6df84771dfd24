package geodrift

import (
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// TestNetinfoSourceLinux runs the real netinfo readers on a recorded
// Linux tree: tunnel interfaces (up and down) are kept with their kind,
// other interfaces are not, and the gateway carries its MAC from the
// neighbour table.
func TestNetinfoSourceLinux(t *testing.T) {
	t.Parallel()
	h := detectortest.Host(t, "linux", filepath.Join("testdata", "netinfo", "linux-vpn"))
	src := netinfoSource{}
	tuns, err := src.Tunnels(t.Context(), h)
	if err != nil {
		t.Fatalf("Tunnels: %v", err)
	}
	want := []Tunnel{{Name: "tun0", Kind: "tun", Up: true}, {Name: "wg0", Kind: "wireguard", Up: false}}
	if !slices.Equal(tuns, want) {
		t.Errorf("tunnels %+v, want %+v", tuns, want)
	}
	gw, err := src.Gateway(t.Context(), h)
	if err != nil {
		t.Fatalf("Gateway: %v", err)
	}
	if !reflect.DeepEqual(gw, Network{GatewayIP: "192.168.2.1", GatewayMAC: "f4:92:bf:aa:bb:01", Interface: "eth0"}) {
		t.Errorf("gateway %+v", gw)
	}
	// Without a default route there is no gateway, and that is no error.
	h.FS = detectortest.ParseFS([]byte("-- proc/net/route --\nIface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"))
	if gw, err := src.Gateway(t.Context(), h); err != nil || !reflect.DeepEqual(gw, Network{}) {
		t.Errorf("no default route: %+v, %v", gw, err)
	}
}

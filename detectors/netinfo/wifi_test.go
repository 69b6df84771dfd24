package netinfo

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdlayher/wifi"
)

func TestWiFiFromNL80211(t *testing.T) {
	t.Parallel()
	ap := net.HardwareAddr{0xf0, 0x9f, 0xc2, 0x11, 0x22, 0x34}
	st := wifiFromNL80211([]nlInterface{
		{Ifi: &wifi.Interface{Name: "wlan0", Type: wifi.InterfaceTypeStation}, BSS: &wifi.BSS{SSID: "Home", BSSID: ap, Status: wifi.BSSStatusAssociated}},
		{Ifi: &wifi.Interface{Name: "wlan1", Type: wifi.InterfaceTypeStation}, BSSErr: fs.ErrNotExist},
		{Ifi: &wifi.Interface{Name: "wlan2", Type: wifi.InterfaceTypeStation}, BSS: &wifi.BSS{SSID: "Cafe", BSSID: ap, Status: wifi.BSSStatusNotAssociated}},
		{Ifi: &wifi.Interface{Name: "ap0", Type: wifi.InterfaceTypeAP}, BSS: &wifi.BSS{SSID: "Hotspot", BSSID: ap, Status: wifi.BSSStatusAssociated}},
		{Ifi: &wifi.Interface{Name: "mon0", Type: wifi.InterfaceTypeMonitor}},
		{Ifi: &wifi.Interface{Type: wifi.InterfaceTypeP2PDevice}},
		{Ifi: nil},
	})
	if !st.Available || len(st.Links) != 1 || st.Links[0] != (WiFiLink{Interface: "wlan0", SSID: "Home", BSSID: "f0:9f:c2:11:22:34"}) {
		t.Errorf("status %+v", st)
	}
	if st := wifiFromNL80211(nil); !st.Available || len(st.Links) != 0 {
		t.Errorf("no Wi-Fi interfaces: %+v", st)
	}
}

func TestLinuxWiFiUnavailable(t *testing.T) {
	t.Parallel()
	home := os.DirFS(filepath.Join("testdata", "linux", "home-laptop"))
	tests := []struct {
		name   string
		src    nl80211Source
		reason string
	}{
		{"no cfg80211 with a wireless interface", noNL80211, "wlp2s0"},
		{"other nl80211 failure", func(context.Context) ([]nlInterface, error) { return nil, errors.New("permission denied") }, "permission denied"},
		{"binary for another OS", nil, "Linux binary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := linuxWiFi(t.Context(), fixtureHost(t, home), tc.src)
			if err != nil || st.Available || !strings.Contains(st.Reason, tc.reason) {
				t.Errorf("got %+v, %v; want unavailable with a reason mentioning %q", st, err, tc.reason)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := linuxWiFi(ctx, fixtureHost(t, home), func(ctx context.Context) ([]nlInterface, error) { return nil, ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled query: %v, want context.Canceled", err)
	}
}

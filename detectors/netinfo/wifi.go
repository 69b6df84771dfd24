package netinfo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"

	"github.com/mdlayher/wifi"

	"github.com/farmwatch/farmwatch/detectors"
)

// nlInterface is what nl80211 tells about one Wi-Fi interface: the
// interface and its current BSS, or why the BSS could not be read
// (fs.ErrNotExist when the interface is not associated).
type nlInterface struct {
	Ifi    *wifi.Interface
	BSS    *wifi.BSS
	BSSErr error
}

// nl80211Source queries nl80211; an error wrapping fs.ErrNotExist means
// the kernel has no nl80211 family (no cfg80211: no Wi-Fi stack).
type nl80211Source func(ctx context.Context) ([]nlInterface, error)

// liveNL80211 is the nl80211 query of this host; set by nl80211_linux.go,
// nil in binaries for other OSes.
var liveNL80211 nl80211Source

// linuxWiFi reports the associated Wi-Fi links of a Linux host: sysfs
// says which interfaces are wireless, nl80211 (src) gives their BSS.
func linuxWiFi(ctx context.Context, h *detectors.Host, src nl80211Source) (WiFiStatus, error) {
	names, err := linuxWirelessNames(h.FS)
	if err != nil {
		return WiFiStatus{}, err
	}
	if src == nil {
		return WiFiStatus{Reason: fmt.Sprintf("nl80211 can only be queried by a Linux binary, this one is for %s", runtime.GOOS)}, nil
	}
	nl, err := src(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return WiFiStatus{}, fmt.Errorf("nl80211: %w", err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			reason := "no Wi-Fi stack: the kernel has no nl80211 (cfg80211 is not loaded)"
			if len(names) > 0 {
				reason = fmt.Sprintf("the kernel has no nl80211 (cfg80211 is not loaded) although %v look wireless", names)
			}
			return WiFiStatus{Reason: reason}, nil
		}
		return WiFiStatus{Reason: fmt.Sprintf("nl80211 query failed: %v", err)}, nil
	}
	return wifiFromNL80211(nl), nil
}

// wifiFromNL80211 turns nl80211 answers into links: every named station
// (or P2P client) interface associated or authenticated with a BSS, or
// that joined an IBSS.
func wifiFromNL80211(nl []nlInterface) WiFiStatus {
	st := WiFiStatus{Available: true}
	for _, n := range nl {
		if n.Ifi == nil || n.Ifi.Name == "" || n.BSS == nil {
			continue
		}
		switch n.Ifi.Type {
		case wifi.InterfaceTypeStation, wifi.InterfaceTypeP2PClient, wifi.InterfaceTypeAdHoc:
		default:
			continue
		}
		switch n.BSS.Status {
		case wifi.BSSStatusAssociated, wifi.BSSStatusAuthenticated, wifi.BSSStatusIBSSJoined:
		default:
			continue
		}
		st.Links = append(st.Links, WiFiLink{
			Interface: n.Ifi.Name,
			SSID:      n.BSS.SSID,
			BSSID:     formatMAC(n.BSS.BSSID),
		})
	}
	return st
}

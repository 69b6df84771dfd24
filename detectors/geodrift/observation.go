package geodrift

import (
	"encoding/json"
	"slices"

	"github.com/farmwatch/farmwatch/detectors"
)

// Schema is the version of Observation.
const Schema = "geodrift/v1"

// Observation is what the device says about where it is.
type Observation struct {
	Schema string `json:"schema"`
	OS     string `json:"os,omitempty"`
	// TimeZone is the system time zone.
	TimeZone TimeZone `json:"time_zone"`
	// Locale is the system locale.
	Locale Setting `json:"locale"`
	// KeyboardLayouts are the configured input layouts, machine-wide and,
	// where readable, per user.
	KeyboardLayouts []Setting `json:"keyboard_layouts,omitempty"`
	// Tunnels are tunnel interfaces (up or down).
	Tunnels []Tunnel `json:"tunnels,omitempty"`
	// VPNClients are catalogued VPN clients found installed or running.
	VPNClients []VPNClient `json:"vpn_clients,omitempty"`
	// Landmarks are round-trip times to the policy's landmark servers;
	// empty when the policy names none.
	Landmarks []detectors.LandmarkRTT `json:"landmarks,omitempty"`
	// Network is the identity of the network the device is on, raw: the
	// agent hashes it with the fleet key before it leaves the device.
	Network Network `json:"network"`
	// Errors lists the sources that could not be read, so that an unknown
	// value is never mistaken for a clean one.
	Errors []detectors.SourceError `json:"errors,omitempty"`
}

// TimeZone is the system time zone.
type TimeZone struct {
	// Name is the IANA name ("America/Chicago"), "" if unknown.
	Name string `json:"name,omitempty"`
	// WindowsName is the Windows time zone key name ("Central Standard
	// Time") the IANA name was mapped from, on Windows.
	WindowsName string `json:"windows_name,omitempty"`
	// UTCOffsetSeconds is the zone's offset from UTC at observation time.
	UTCOffsetSeconds int `json:"utc_offset_s"`
	// Abbreviation is the zone's abbreviation then ("CST").
	Abbreviation string `json:"abbreviation,omitempty"`
	// Source says where the name was read.
	Source string `json:"source,omitempty"`
}

// Setting is one value and where it was read.
type Setting struct {
	Value  string `json:"value,omitempty"`
	Source string `json:"source,omitempty"`
}

// Tunnel is a tunnel interface.
type Tunnel struct {
	Name string `json:"name"`
	// Kind is "tun", "tap", "utun", "wintun", "ppp", "wireguard", "ipsec"
	// or "tunnel".
	Kind        string `json:"kind"`
	Description string `json:"description,omitempty"`
	Up          bool   `json:"up"`
}

// VPNClient is a catalogued VPN client found on the device.
type VPNClient struct {
	// ID is the catalogue id ("astrill").
	ID       string `json:"id"`
	Name     string `json:"name"`
	Category string `json:"category"`
	// Reported is true for clients named in laptop-farm reporting.
	Reported bool `json:"reported,omitempty"`
	// Running is true when one of its processes runs.
	Running bool `json:"running"`
	// Evidence lists what matched, strongest first.
	Evidence []Evidence `json:"evidence"`
}

// Evidence is one thing that identified a VPN client.
type Evidence struct {
	// Source is "process", "software" (uninstall entry, app bundle or
	// package) or "path".
	Source string `json:"source"`
	// Detail names it: "pid 812 astrill.exe (C:\…\astrill.exe)", "dpkg
	// package nordvpn 3.19.0", "/Applications/Astrill.app".
	Detail string `json:"detail"`
}

// Network is the identity of the network the device is on.
type Network struct {
	GatewayIP  string `json:"gateway_ip,omitempty"`
	GatewayMAC string `json:"gateway_mac,omitempty"`
	// Interface is the interface of the default route.
	Interface string   `json:"interface,omitempty"`
	BSSIDs    []string `json:"bssids,omitempty"`
	// WiFiUnavailable says why there are no BSSIDs when the OS would not
	// tell (no Wi-Fi, Location Services permission withheld …).
	WiFiUnavailable string `json:"wifi_unavailable,omitempty"`
}

// ObservationSchema implements detectors.Observation.
func (*Observation) ObservationSchema() string { return Schema }

var (
	_ detectors.Observation = (*Observation)(nil)
	_ detectors.Contributor = (*Observation)(nil)
)

func (o *Observation) addError(source string, err error) {
	o.Errors = append(o.Errors, detectors.SourceError{Source: source, Error: err.Error()})
}

// Contribute implements detectors.Contributor: the geo signals, and the
// gateway MAC and BSSIDs for the network history (the agent hashes them).
// BSSIDs another observation contributed are kept; the agent dedupes.
func (o *Observation) Contribute(c *detectors.ReportContext) {
	g := &detectors.GeoSignals{
		TimeZone:         o.TimeZone.Name,
		UTCOffsetSeconds: o.TimeZone.UTCOffsetSeconds,
		Locale:           o.Locale.Value,
	}
	for _, k := range o.KeyboardLayouts {
		if !slices.Contains(g.KeyboardLayouts, k.Value) {
			g.KeyboardLayouts = append(g.KeyboardLayouts, k.Value)
		}
	}
	for _, t := range o.Tunnels {
		if t.Up {
			g.VPNInterfaces = append(g.VPNInterfaces, detectors.VPNInterface{Name: t.Name, Kind: t.Kind})
		}
	}
	for _, v := range o.VPNClients {
		src := "installed"
		if v.Running {
			src = "process"
		}
		g.VPNClients = append(g.VPNClients, detectors.VPNClient{Name: v.Name, Category: v.Category, Running: v.Running, Source: src})
	}
	g.Landmarks = slices.Clone(o.Landmarks)
	c.Geo = g
	if o.Network.GatewayMAC != "" {
		c.GatewayMAC = o.Network.GatewayMAC
	}
	c.BSSIDs = append(c.BSSIDs, o.Network.BSSIDs...)
}

// decodeObservation parses a recorded observation.
func decodeObservation(raw json.RawMessage) (*Observation, error) {
	o, err := detectors.DecodeObservation[Observation](raw, Schema)
	if err != nil {
		return nil, err
	}
	o.Schema = Schema
	return o, nil
}

package detectors

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// ReportContext is what observations add to the context of the report
// the agent sends, in raw form. The agent turns network identifiers
// (gateway MAC, BSSIDs, SSID) into keyed hashes with the fleet key before
// anything leaves the host; peers and geo signals travel as they are.
type ReportContext struct {
	// GatewayMAC is the default gateway's MAC address ("aa:bb:…"), "" if
	// unknown.
	GatewayMAC string
	// BSSIDs of the Wi-Fi networks the device is associated with.
	BSSIDs []string
	// SSID of the Wi-Fi network the device is associated with.
	SSID string
	// Peers are other enrolled devices heard on the LAN.
	Peers []Peer
	// Beacons counts the peer beacon's traffic since the agent started.
	Beacons *BeaconStats
	// Geo holds the device's location signals for the collector's
	// judgement (time zone, VPN, landmark round-trip times).
	Geo *GeoSignals
}

// Contributor is implemented by observations that add to the report
// context. Contribute fills only the fields it knows about.
type Contributor interface {
	Contribute(c *ReportContext)
}

// Peer is another device of the fleet heard on the LAN.
type Peer struct {
	DeviceID string `json:"device_id"`
	// Via says how it was heard: "multicast" or "broadcast".
	Via string `json:"via"`
	// At is when it was last heard.
	At time.Time `json:"at"`
}

// BeaconStats counts peer beacons, by outcome.
type BeaconStats struct {
	Sent     uint64 `json:"sent"`
	Accepted uint64 `json:"accepted"`
	// Rejected counts ignored beacons by reason ("bad_mac",
	// "foreign_fleet", "replayed", "stale", "malformed", "self").
	Rejected map[string]uint64 `json:"rejected,omitempty"`
}

// GeoSignals are what the device says about where it is.
type GeoSignals struct {
	// TimeZone is the IANA zone name ("America/Chicago"), "" if unknown.
	TimeZone string `json:"time_zone,omitempty"`
	// UTCOffsetSeconds is the zone's current offset from UTC.
	UTCOffsetSeconds int `json:"utc_offset_s"`
	// Locale is the system locale ("en_US").
	Locale string `json:"locale,omitempty"`
	// KeyboardLayouts are the installed input layouts ("us", "ko").
	KeyboardLayouts []string `json:"keyboard_layouts,omitempty"`
	// VPNInterfaces are tunnel interfaces that are up.
	VPNInterfaces []VPNInterface `json:"vpn_interfaces,omitempty"`
	// VPNClients are catalogued VPN clients installed or running.
	VPNClients []VPNClient `json:"vpn_clients,omitempty"`
	// Landmarks are round-trip times to the policy's landmark servers.
	Landmarks []LandmarkRTT `json:"landmarks,omitempty"`
}

// VPNInterface is a tunnel interface.
type VPNInterface struct {
	Name string `json:"name"`
	// Kind is "tun", "utun", "wintun", "ppp", "wireguard", "tap" or
	// "tunnel".
	Kind string `json:"kind"`
}

// VPNClient is a VPN client found on the device.
type VPNClient struct {
	// Name is the catalogue name ("Astrill VPN").
	Name string `json:"name"`
	// Category is "consumer" or "corporate".
	Category string `json:"category"`
	Running  bool   `json:"running"`
	// Source says where it was seen ("process", "installed", "service").
	Source string `json:"source"`
}

// LandmarkRTT is the round-trip time to one landmark server.
type LandmarkRTT struct {
	Name      string  `json:"name"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	// RTTMS is the minimum TCP connect time over the samples, in
	// milliseconds; 0 when no sample succeeded.
	RTTMS   float64 `json:"rtt_ms"`
	Samples int     `json:"samples"`
	Error   string  `json:"error,omitempty"`
}

// Service is the long-running part of a detector, run by the agent
// service for its lifetime (the colocation peer beacon). Scans from the
// command line run without it.
type Service interface {
	// Run works until ctx ends.
	Run(ctx context.Context) error
	// SetPolicy applies a new decoded policy of the detector.
	SetPolicy(Policy)
}

// ServiceConfig is what a detector's service gets from the agent.
type ServiceConfig struct {
	// DeviceID is the enrolled device id ("fw-…").
	DeviceID string
	// FleetKey is the fleet's shared secret from enrollment.
	FleetKey []byte
	// Policy is the detector's decoded policy.
	Policy Policy
	Log    *zap.Logger
	Now    func() time.Time
}

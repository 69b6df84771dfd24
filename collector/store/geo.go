package store

import "time"

// GeoState is one device's geolocation history: where its last report
// came from, the geo rules that held on it, and every country and network
// identity it reported from.
type GeoState struct {
	DeviceID string
	// FirstSeen and LastSeen bound the reports that carried a GeoUpdate.
	FirstSeen time.Time
	LastSeen  time.Time
	// Last is the location of the device's latest report (highest seq).
	Last GeoFix
	// Active are the condition rules that held on the latest report
	// (their alerts are resolved when a later report clears them).
	Active []string
	// Countries and Networks are ordered by first seen.
	Countries []GeoSeen
	Networks  []GeoSeen
}

// GeoFix is where an IP was located.
type GeoFix struct {
	IP         string  `json:"ip"`
	Country    string  `json:"country,omitempty"`
	City       string  `json:"city,omitempty"`
	HasCoords  bool    `json:"has_coords"`
	Latitude   float64 `json:"latitude,omitempty"`
	Longitude  float64 `json:"longitude,omitempty"`
	AccuracyKM float64 `json:"accuracy_radius_km,omitempty"`
	TimeZone   string  `json:"time_zone,omitempty"`
	ASN        uint32  `json:"asn,omitempty"`
	ASOrg      string  `json:"as_org,omitempty"`
}

// GeoSeen is one country or network identity of a device's history.
type GeoSeen struct {
	Value     string
	FirstSeen time.Time
	LastSeen  time.Time
	Reports   int
}

// GeoUpdate is what one report adds to its device's history. At is the
// report's time. The country (Fix.Country, when set) and every network
// identity are counted as seen; Fix and Active replace the latest state
// only when the report's seq is the device's highest.
type GeoUpdate struct {
	At       time.Time
	Fix      GeoFix
	Networks []string
	Active   []string
}

// Kinds of GeoSeen rows.
const (
	geoCountry = "country"
	geoNetwork = "network"
)

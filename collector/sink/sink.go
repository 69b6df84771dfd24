package sink

import (
	"context"
	"errors"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
)

// Version is the collector version written into CEF headers and OCSF
// metadata. Set it at build time with
// -ldflags "-X github.com/farmwatch/farmwatch/collector/sink.Version=…".
var Version = "dev"

// ErrPermanent marks a delivery the receiver refused for good (a 4xx
// other than 408/429): retrying the same request soon will not help. The
// Dispatcher still keeps the delivery and retries it at MaxBackoff, so an
// operator can fix the receiver without losing the alert.
var ErrPermanent = errors.New("permanent delivery failure")

// Sink delivers alert events to one destination. Deliver is called by one
// goroutine at a time per sink (the Dispatcher runs one loop per sink);
// Close releases connections and files and may be called once, after the
// last Deliver.
type Sink interface {
	// Name is the configured sink name, the key of its deliveries.
	Name() string
	// Deliver sends one event and returns nil once the destination has
	// it (2xx answer, bytes written to the connection, file synced).
	// An error wrapping ErrPermanent means the destination refused it.
	Deliver(ctx context.Context, ev Event) error
	Close() error
}

// Events of an alert.
const (
	EventCreated = "created"
	EventUpdated = "updated"
)

// Event is one alert change to deliver.
type Event struct {
	// Event is EventCreated or EventUpdated.
	Event string
	Alert store.Alert
	// Devices are the member devices' records, in no particular order.
	// A member may be missing (for example a device deleted since); the
	// formats then show its id only.
	Devices []store.Device
	// Collector is the collector's name (config `name`).
	Collector string
	// ConsoleURL links to the alert in the console; may be empty.
	ConsoleURL string
}

// severityName is the contract name of an alert severity: 0 info,
// 1 low, 2 medium, 3 high, 4 critical. Out-of-range values are clamped.
func severityName(s int) string {
	return detectors.Severity(clampSeverity(s)).String()
}

func clampSeverity(s int) int {
	switch {
	case s < int(detectors.SeverityInfo):
		return int(detectors.SeverityInfo)
	case s > int(detectors.SeverityCritical):
		return int(detectors.SeverityCritical)
	}
	return s
}

// member is one alert member with whatever its device record holds.
type member struct {
	id string
	// device is the member's record, or an empty one when unknown;
	// shared with the Event, read-only.
	device *store.Device
	known  bool
}

// noDevice stands for a member without a record.
var noDevice store.Device

// members lists the alert's members in the alert's order, joined with
// their device records; devices that are not members are ignored.
func (ev *Event) members() []member {
	out := make([]member, 0, len(ev.Alert.Members))
	for _, id := range ev.Alert.Members {
		m := member{id: id, device: &noDevice}
		for i := range ev.Devices {
			if ev.Devices[i].ID == id {
				m.device, m.known = &ev.Devices[i], true
				break
			}
		}
		out = append(out, m)
	}
	return out
}

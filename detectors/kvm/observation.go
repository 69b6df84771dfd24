package kvm

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/farmwatch/farmwatch/detectors"
)

// Schema is the version of Observation.
const Schema = "kvm/v1"

// Observation is what Observe records: the USB devices and the displays of
// the host. The fields usb_devices and displays (and the fields of their
// elements named in DESIGN.md) are part of the snapshot contract; the
// others are this detector's additions.
//
// Identifiers are lower-case hex without 0x ("1d6b"); report descriptors
// and EDIDs are lower-case hex of the raw bytes.
type Observation struct {
	Schema string `json:"schema"`
	// OS is the GOOS the observation was made on.
	OS         string      `json:"os,omitempty"`
	USBDevices []USBDevice `json:"usb_devices"`
	Displays   []Display   `json:"displays"`
	// Errors lists the sources that could not be read, so that an absent
	// device is never confused with an unreadable source.
	Errors []SourceError `json:"errors,omitempty"`
}

// USBDevice is one USB device (not an interface) attached to the host.
// Root hubs are left out.
type USBDevice struct {
	VendorID     string `json:"vendor_id"`
	ProductID    string `json:"product_id"`
	BCDDevice    string `json:"bcd_device"`
	DeviceClass  string `json:"device_class"`
	Manufacturer string `json:"manufacturer"`
	Product      string `json:"product"`
	Serial       string `json:"serial"`
	// Location names the port: the sysfs name on Linux ("3-2"), the
	// locationID on macOS ("14100000"), the location information on
	// Windows ("Port_#0002.Hub_#0003").
	Location   string      `json:"location"`
	Interfaces []Interface `json:"interfaces"`
	// InstanceID is the Windows device instance id
	// (USB\VID_1D6B&PID_0104\CAFEBABE); empty elsewhere.
	InstanceID string `json:"instance_id,omitempty"`
}

// Interface is one interface of a USB device's active configuration.
type Interface struct {
	Number   int    `json:"number"`
	Class    string `json:"class"`
	SubClass string `json:"subclass"`
	Protocol string `json:"protocol"`
	// HIDReportDescriptor is the raw report descriptor of a HID
	// interface, where the OS exposes it (Linux, macOS).
	HIDReportDescriptor string `json:"hid_report_descriptor,omitempty"`
	// HIDCollections describes the top-level collections of a HID
	// interface as the OS parsed them, where the raw descriptor is not
	// exposed (Windows: HidP_GetCaps, HidP_GetValueCaps and
	// HidP_GetButtonCaps of each collection).
	HIDCollections []HIDCollection `json:"hid_collections,omitempty"`
}

// HIDCollection is a top-level HID collection as an OS HID parser reports
// it: its usage and the usages of its input values and buttons.
type HIDCollection struct {
	UsagePage uint16       `json:"usage_page"`
	Usage     uint16       `json:"usage"`
	Values    []HIDValue   `json:"values,omitempty"`
	Buttons   []HIDButtons `json:"buttons,omitempty"`
}

// HIDValue is one input value capability (a range of usages sharing the
// same report field properties).
type HIDValue struct {
	UsagePage  uint16 `json:"usage_page"`
	UsageMin   uint16 `json:"usage_min"`
	UsageMax   uint16 `json:"usage_max"`
	Absolute   bool   `json:"absolute"`
	LogicalMin int32  `json:"logical_min"`
	LogicalMax int32  `json:"logical_max"`
	BitSize    uint16 `json:"bit_size"`
	Count      uint16 `json:"count"`
	ReportID   uint8  `json:"report_id,omitempty"`
}

// HIDButtons is one input button capability: a range of usages reported
// as on/off states or as an array of pressed usages (keyboard keys).
type HIDButtons struct {
	UsagePage uint16 `json:"usage_page"`
	UsageMin  uint16 `json:"usage_min"`
	UsageMax  uint16 `json:"usage_max"`
	ReportID  uint8  `json:"report_id,omitempty"`
}

// Display is one connected display, with the EDID it presents.
type Display struct {
	// Name is the connector on Linux ("HDMI-A-1"), the registry entry on
	// macOS ("AppleDisplay" or the framebuffer name), the monitor
	// instance id on Windows (DISPLAY\DEL41B0\5&1A2B3C4&0&UID4352).
	Name string `json:"name"`
	// Internal marks a built-in panel. See the package documentation for
	// how each OS decides.
	Internal bool   `json:"internal"`
	EDID     string `json:"edid"`
}

// SourceError names a source that could not be read.
type SourceError = detectors.SourceError

// ObservationSchema implements detectors.Observation.
func (*Observation) ObservationSchema() string { return Schema }

var _ detectors.Observation = (*Observation)(nil)

func (o *Observation) addError(source string, err error) {
	o.Errors = append(o.Errors, SourceError{Source: source, Error: err.Error()})
}

// normalise gives the observation a stable order and non-nil lists, so
// that equal hosts encode to equal JSON.
func (o *Observation) normalise() {
	if o.USBDevices == nil {
		o.USBDevices = []USBDevice{}
	}
	if o.Displays == nil {
		o.Displays = []Display{}
	}
	for i := range o.USBDevices {
		d := &o.USBDevices[i]
		if d.Interfaces == nil {
			d.Interfaces = []Interface{}
		}
		sort.SliceStable(d.Interfaces, func(a, b int) bool { return d.Interfaces[a].Number < d.Interfaces[b].Number })
	}
	sort.SliceStable(o.USBDevices, func(a, b int) bool {
		x, y := o.USBDevices[a], o.USBDevices[b]
		if x.Location != y.Location {
			return x.Location < y.Location
		}
		if x.InstanceID != y.InstanceID {
			return x.InstanceID < y.InstanceID
		}
		return x.VendorID+x.ProductID < y.VendorID+y.ProductID
	})
	sort.SliceStable(o.Displays, func(a, b int) bool { return o.Displays[a].Name < o.Displays[b].Name })
}

// decodeObservation parses a recorded observation in one pass: a schema
// other than Schema is an error, a missing one is accepted (as
// detectors.CheckSchema does; the snapshot contract's example omits it).
func decodeObservation(raw json.RawMessage) (*Observation, error) {
	var doc struct {
		Schema *string `json:"schema"`
		Observation
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode %s observation: %w", Schema, err)
	}
	if doc.Schema != nil && *doc.Schema != Schema {
		return nil, fmt.Errorf("observation schema %q is not %q", *doc.Schema, Schema)
	}
	o := doc.Observation
	o.Schema = Schema
	return &o, nil
}

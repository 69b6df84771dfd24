package kvm

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// windowsRecords is what the SetupAPI shim (setupapi_windows.go) collects
// on Windows, uninterpreted: device nodes as SetupAPI lists them, the HID
// collections as hid.dll parses them, and the monitors' registry EDIDs.
// decodeWindowsRecords turns it into an Observation; tests feed it
// recorded JSON.
type windowsRecords struct {
	// USB are the present device nodes of the USB enumerator: devices
	// (USB\VID_1D6B&PID_0104\CAFEBABE) and, for composite devices, their
	// interfaces (USB\VID_1D6B&PID_0104&MI_00\7&1B2C3D4&0&0000).
	USB []windowsDevNode `json:"usb"`
	// HID are the present device nodes of the HID enumerator, one per
	// top-level collection.
	HID []windowsHIDNode `json:"hid"`
	// Monitors are the present monitors (GUID_DEVCLASS_MONITOR).
	Monitors []windowsMonitor `json:"monitors"`
	Errors   []SourceError    `json:"errors,omitempty"`
}

type windowsDevNode struct {
	InstanceID    string   `json:"instance_id"`
	Parent        string   `json:"parent,omitempty"`
	HardwareIDs   []string `json:"hardware_ids,omitempty"`
	CompatibleIDs []string `json:"compatible_ids,omitempty"`
	// BusReportedDescription is DEVPKEY_Device_BusReportedDeviceDesc:
	// the product string the device reported.
	BusReportedDescription string `json:"bus_reported_description,omitempty"`
	// Location is SPDRP_LOCATION_INFORMATION ("Port_#0002.Hub_#0003").
	Location string `json:"location,omitempty"`
}

type windowsHIDNode struct {
	InstanceID string `json:"instance_id"`
	Parent     string `json:"parent,omitempty"`
	// The USB strings as HidD_Get*String read them.
	Manufacturer string `json:"manufacturer,omitempty"`
	Product      string `json:"product,omitempty"`
	Serial       string `json:"serial,omitempty"`
	// Collection is the top-level collection as HidP_GetCaps,
	// HidP_GetValueCaps and HidP_GetButtonCaps report it.
	Collection *HIDCollection `json:"collection,omitempty"`
	// Error says why the collection could not be read.
	Error string `json:"error,omitempty"`
}

type windowsMonitor struct {
	InstanceID string `json:"instance_id"`
	// EDID is the hex of Device Parameters\EDID.
	EDID  string `json:"edid,omitempty"`
	Error string `json:"error,omitempty"`
}

// windowsCollector collects windowsRecords from the running system.
type windowsCollector func(ctx context.Context) (*windowsRecords, error)

// systemWindowsCollector is the SetupAPI shim on Windows builds and nil
// elsewhere (set by setupapi_windows.go).
var systemWindowsCollector windowsCollector

var (
	// usbInstanceID splits USB\VID_1D6B&PID_0104[&MI_00]\<instance>.
	usbInstanceID = regexp.MustCompile(`(?i)^USB\\VID_([0-9A-F]{4})&PID_([0-9A-F]{4})(?:&MI_([0-9A-F]{2}))?\\(.+)$`)
	// hidInstanceID splits HID\VID_1D6B&PID_0104[&MI_00][&COL01]\<instance>.
	hidInstanceID = regexp.MustCompile(`(?i)^HID\\VID_([0-9A-F]{4})&PID_([0-9A-F]{4})(?:&MI_([0-9A-F]{2}))?`)
	revID         = regexp.MustCompile(`(?i)&REV_([0-9A-F]{4})(?:&|$)`)
	devClassID    = regexp.MustCompile(`(?i)^USB\\DevClass_([0-9A-F]{2})&SubClass_([0-9A-F]{2})&Prot_([0-9A-F]{2})$`)
	ifaceClassID  = regexp.MustCompile(`(?i)^USB\\Class_([0-9A-F]{2})&SubClass_([0-9A-F]{2})&Prot_([0-9A-F]{2})$`)
)

// parseWindowsRecords decodes recorded JSON of windowsRecords.
func parseWindowsRecords(data []byte) (*windowsRecords, error) {
	var r windowsRecords
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode windows device records: %w", err)
	}
	return &r, nil
}

// decodeWindowsRecords builds the observation of a Windows host:
//   - a USB device is a device node without MI_; its interfaces are its
//     MI_nn child nodes, or, for a single-interface device, the device
//     node itself (its compatible ids name the interface class);
//   - VID, PID and interface number come from the instance id, bcdDevice
//     from the REV_ hardware id, classes from the compatible ids
//     (USB\DevClass_…, USB\Class_…), the product string from the bus
//     reported description, the serial from the instance id's last part
//     when it has no '&' (Windows invents "6&1A2B3C4&0&2" otherwise);
//   - manufacturer (and a missing product or serial) come from hid.dll's
//     HidD_Get*String of the device's HID collections;
//   - a HID collection joins the interface its parent node is;
//   - a monitor is internal when its EDID looks like a panel (no monitor
//     name, part-number text): Windows tells a service nothing more.
func decodeWindowsRecords(r *windowsRecords, o *Observation) {
	o.Errors = append(o.Errors, r.Errors...)
	type ifaceRef struct{ dev, iface int }
	devs := map[string]int{}        // upper-case device instance id → index in o.USBDevices
	ifaces := map[string]ifaceRef{} // upper-case node instance id → interface
	var children []windowsDevNode
	for _, n := range r.USB {
		m := usbInstanceID.FindStringSubmatch(n.InstanceID)
		if m == nil {
			continue // root hubs and other nodes without VID/PID
		}
		if m[3] != "" {
			children = append(children, n)
			continue
		}
		d := USBDevice{
			VendorID:   strings.ToLower(m[1]),
			ProductID:  strings.ToLower(m[2]),
			Product:    strings.TrimSpace(n.BusReportedDescription),
			Location:   n.Location,
			InstanceID: n.InstanceID,
		}
		if !strings.Contains(m[4], "&") {
			d.Serial = m[4]
		}
		for _, h := range n.HardwareIDs {
			if rm := revID.FindStringSubmatch(h); rm != nil {
				d.BCDDevice = strings.ToLower(rm[1])
				break
			}
		}
		d.DeviceClass = "00"
		var single *Interface
		for _, c := range n.CompatibleIDs {
			if cm := devClassID.FindStringSubmatch(c); cm != nil {
				d.DeviceClass = strings.ToLower(cm[1])
			}
			if cm := ifaceClassID.FindStringSubmatch(c); cm != nil && single == nil {
				single = &Interface{Class: strings.ToLower(cm[1]), SubClass: strings.ToLower(cm[2]), Protocol: strings.ToLower(cm[3])}
			}
		}
		if single != nil {
			d.Interfaces = append(d.Interfaces, *single)
		}
		o.USBDevices = append(o.USBDevices, d)
		idx := len(o.USBDevices) - 1
		devs[strings.ToUpper(n.InstanceID)] = idx
		if single != nil {
			ifaces[strings.ToUpper(n.InstanceID)] = ifaceRef{idx, 0}
		}
	}
	for _, n := range children {
		m := usbInstanceID.FindStringSubmatch(n.InstanceID)
		num, _ := strconv.ParseUint(m[3], 16, 8)
		idx, ok := devs[strings.ToUpper(n.Parent)]
		if !ok {
			o.addError(n.InstanceID, fmt.Errorf("decode USB interface: parent %q is not a present USB device", n.Parent))
			continue
		}
		it := Interface{Number: int(num)}
		for _, c := range n.CompatibleIDs {
			if cm := ifaceClassID.FindStringSubmatch(c); cm != nil {
				it.Class, it.SubClass, it.Protocol = strings.ToLower(cm[1]), strings.ToLower(cm[2]), strings.ToLower(cm[3])
				break
			}
		}
		d := &o.USBDevices[idx]
		d.Interfaces = append(d.Interfaces, it)
		ifaces[strings.ToUpper(n.InstanceID)] = ifaceRef{idx, len(d.Interfaces) - 1}
	}
	for _, h := range r.HID {
		if hidInstanceID.FindStringSubmatch(h.InstanceID) == nil {
			continue // HID over I2C, Bluetooth or virtual: not USB
		}
		if h.Error != "" {
			o.addError(h.InstanceID, fmt.Errorf("read HID collection: %s", h.Error))
		}
		ref, ok := ifaces[strings.ToUpper(h.Parent)]
		if !ok {
			// A VID-style HID node under a Bluetooth or virtual bus (Wine's
			// own keyboard and mouse have no parent at all): not USB.
			continue
		}
		d := &o.USBDevices[ref.dev]
		if h.Collection != nil {
			it := &d.Interfaces[ref.iface]
			it.HIDCollections = append(it.HIDCollections, *h.Collection)
		}
		if d.Manufacturer == "" {
			d.Manufacturer = strings.TrimSpace(h.Manufacturer)
		}
		if d.Product == "" {
			d.Product = strings.TrimSpace(h.Product)
		}
		if d.Serial == "" {
			d.Serial = strings.TrimSpace(h.Serial)
		}
	}
	for _, m := range r.Monitors {
		if m.Error != "" {
			o.addError(m.InstanceID, fmt.Errorf("read monitor EDID: %s", m.Error))
		}
		disp := Display{Name: m.InstanceID, EDID: strings.ToLower(m.EDID)}
		if raw, err := hex.DecodeString(m.EDID); err != nil {
			o.addError(m.InstanceID, fmt.Errorf("decode monitor EDID: %w", err))
			disp.EDID = ""
		} else if e, err := ParseEDID(raw); err == nil {
			disp.Internal = e.panelLike()
		}
		o.Displays = append(o.Displays, disp)
	}
}

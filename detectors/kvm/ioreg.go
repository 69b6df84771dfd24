package kvm

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"howett.net/plist"

	"github.com/farmwatch/farmwatch/detectors"
)

// The ioreg command lines Observe runs on macOS. -a prints the registry
// as an XML property list; -l includes every property.
var (
	// ioregUSBDevices lists the USB plane: every USB device with its
	// descriptor fields and strings.
	ioregUSBDevices = []string{"-a", "-l", "-p", "IOUSB"}
	// ioregUSBInterfaces lists each USB interface with its subtree in the
	// service plane, where the HID device driving the interface carries
	// the raw ReportDescriptor.
	ioregUSBInterfaces = []string{"-a", "-l", "-r", "-c", "IOUSBHostInterface"}
	// ioregDisplays list the registry entries holding an EDID: Intel
	// Macs publish IODisplayEDID on AppleDisplay/AppleBacklightDisplay,
	// Apple Silicon publishes EDID on its DCP display nodes.
	ioregDisplays = [][]string{
		{"-a", "-l", "-r", "-d", "1", "-k", "IODisplayEDID"},
		{"-a", "-l", "-r", "-d", "1", "-k", "EDID"},
	}
)

// edidKeys are the properties an EDID sits in, the original (as the
// display sent it, before overrides) first.
var edidKeys = []string{"IODisplayEDIDOriginal", "IODisplayEDID", "EDID"}

const maxIoregDepth = 64

// observeDarwin reads USB devices and displays through ioreg.
func observeDarwin(ctx context.Context, run detectors.Runner, o *Observation) {
	devices, err := runIoreg(ctx, run, ioregUSBDevices)
	if err != nil {
		o.addError(ioregSource(ioregUSBDevices), err)
	}
	ifaceRoots, err := runIoreg(ctx, run, ioregUSBInterfaces)
	if err != nil {
		o.addError(ioregSource(ioregUSBInterfaces), err)
	}
	o.USBDevices = append(o.USBDevices, ioregUSB(devices, ifaceRoots)...)
	seen := map[string]bool{}
	for _, args := range ioregDisplays {
		roots, err := runIoreg(ctx, run, args)
		if err != nil {
			o.addError(ioregSource(args), err)
			continue
		}
		for _, d := range ioregDisplayEntries(roots) {
			if key := d.Name + "\x00" + d.EDID; !seen[key] {
				seen[key] = true
				o.Displays = append(o.Displays, d)
			}
		}
	}
}

func ioregSource(args []string) string { return "ioreg " + strings.Join(args, " ") }

func runIoreg(ctx context.Context, run detectors.Runner, args []string) ([]map[string]any, error) {
	out, err := run.Run(ctx, "ioreg", args...)
	if err != nil {
		return nil, err
	}
	roots, err := ParseIoreg(out)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ioregSource(args), err)
	}
	return roots, nil
}

// ParseIoreg parses the XML property list `ioreg -a` prints: one registry
// entry (a dictionary) or, with -r, an array of them. Empty output (no
// entry matched) is no entries.
func ParseIoreg(data []byte) ([]map[string]any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var v any
	if _, err := plist.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("parse ioreg plist: %w", err)
	}
	switch t := v.(type) {
	case map[string]any:
		return []map[string]any{t}, nil
	case []any:
		roots := make([]map[string]any, 0, len(t))
		for i, e := range t {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("parse ioreg plist: entry %d is %T, not a dictionary", i, e)
			}
			roots = append(roots, m)
		}
		return roots, nil
	default:
		return nil, fmt.Errorf("parse ioreg plist: top level is %T, not a dictionary or array", v)
	}
}

// walkIoreg calls fn for every entry of the trees, depth first.
func walkIoreg(roots []map[string]any, fn func(entry map[string]any)) {
	var walk func(e map[string]any, depth int)
	walk = func(e map[string]any, depth int) {
		if depth > maxIoregDepth {
			return
		}
		fn(e)
		children, _ := e["IORegistryEntryChildren"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok {
				walk(m, depth+1)
			}
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

func ioregUint(e map[string]any, key string) (uint64, bool) {
	switch v := e[key].(type) {
	case uint64:
		return v, true
	case int64:
		if v >= 0 {
			return uint64(v), true
		}
	case float64:
		if v >= 0 {
			return uint64(v), true
		}
	}
	return 0, false
}

func ioregString(e map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := e[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// ioregUSB builds the USB devices of the IOUSB plane, each with the
// interfaces found for its locationID in the interface listing.
func ioregUSB(deviceRoots, ifaceRoots []map[string]any) []USBDevice {
	ifaces := ioregInterfaces(ifaceRoots)
	var out []USBDevice
	walkIoreg(deviceRoots, func(e map[string]any) {
		vid, okV := ioregUint(e, "idVendor")
		pid, okP := ioregUint(e, "idProduct")
		if !okV || !okP || strings.HasSuffix(ioregString(e, "IOObjectClass"), "RootHubDevice") {
			return
		}
		if _, isIface := e["bInterfaceNumber"]; isIface {
			return
		}
		d := USBDevice{
			VendorID:     fmt.Sprintf("%04x", vid),
			ProductID:    fmt.Sprintf("%04x", pid),
			Manufacturer: ioregString(e, "USB Vendor Name", "kUSBVendorString"),
			Product:      ioregString(e, "USB Product Name", "kUSBProductString"),
			Serial:       ioregString(e, "USB Serial Number", "kUSBSerialNumberString"),
		}
		if v, ok := ioregUint(e, "bcdDevice"); ok {
			d.BCDDevice = fmt.Sprintf("%04x", v)
		}
		if v, ok := ioregUint(e, "bDeviceClass"); ok {
			d.DeviceClass = fmt.Sprintf("%02x", v)
		}
		if loc, ok := ioregUint(e, "locationID"); ok {
			d.Location = fmt.Sprintf("%08x", loc)
			d.Interfaces = ifaces[d.Location]
		}
		out = append(out, d)
	})
	return out
}

// ioregInterfaces reads the IOUSBHostInterface entries by device
// locationID, each with the ReportDescriptor of the HID device in its
// subtree.
func ioregInterfaces(roots []map[string]any) map[string][]Interface {
	out := map[string][]Interface{}
	walkIoreg(roots, func(e map[string]any) {
		num, ok := ioregUint(e, "bInterfaceNumber")
		if !ok {
			return
		}
		loc, ok := ioregUint(e, "locationID")
		if !ok {
			return
		}
		it := Interface{Number: int(num)}
		for _, f := range []struct {
			key string
			dst *string
		}{
			{"bInterfaceClass", &it.Class},
			{"bInterfaceSubClass", &it.SubClass},
			{"bInterfaceProtocol", &it.Protocol},
		} {
			if v, ok := ioregUint(e, f.key); ok {
				*f.dst = fmt.Sprintf("%02x", v)
			}
		}
		if it.Class == "03" {
			walkIoreg([]map[string]any{e}, func(c map[string]any) {
				if it.HIDReportDescriptor != "" {
					return
				}
				if rd, ok := c["ReportDescriptor"].([]byte); ok && len(rd) > 0 {
					it.HIDReportDescriptor = hex.EncodeToString(rd)
				}
			})
		}
		key := fmt.Sprintf("%08x", loc)
		for _, have := range out[key] {
			if have.Number == it.Number {
				return // the same interface reached twice (nested -r roots)
			}
		}
		out[key] = append(out[key], it)
	})
	return out
}

// ioregDisplayEntries reads the EDIDs of display entries. An entry of
// class AppleBacklightDisplay is the built-in panel of an Intel Mac; other
// entries are judged by their EDID (see EDID.panelLike).
func ioregDisplayEntries(roots []map[string]any) []Display {
	var out []Display
	walkIoreg(roots, func(e map[string]any) {
		edid := ioregEDID(e)
		if edid == nil {
			return
		}
		class := ioregString(e, "IOObjectClass")
		name := ioregString(e, "IORegistryEntryName", "IOObjectClass")
		if name == "" {
			name = "display"
		}
		if id, ok := ioregUint(e, "IORegistryEntryID"); ok {
			name = fmt.Sprintf("%s 0x%x", name, id)
		}
		internal := class == "AppleBacklightDisplay"
		if !internal && class != "AppleDisplay" {
			if p, err := ParseEDID(edid); err == nil {
				internal = p.panelLike()
			}
		}
		out = append(out, Display{Name: name, Internal: internal, EDID: hex.EncodeToString(edid)})
	})
	return out
}

// ioregEDID returns the EDID of an entry: a property (or a property of a
// dictionary property) named like an EDID, holding at least one block
// that starts with the EDID header.
func ioregEDID(e map[string]any) []byte {
	find := func(m map[string]any) []byte {
		for _, k := range edidKeys {
			if b, ok := m[k].([]byte); ok && len(b) >= EDIDBlockSize && bytes.Equal(b[:8], edidHeader) {
				return b
			}
		}
		return nil
	}
	if b := find(e); b != nil {
		return b
	}
	for _, k := range slices.Sorted(maps.Keys(e)) {
		if m, ok := e[k].(map[string]any); ok && k != "IORegistryEntryChildren" {
			if b := find(m); b != nil {
				return b
			}
		}
	}
	return nil
}

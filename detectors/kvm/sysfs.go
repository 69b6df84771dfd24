package kvm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
)

const (
	sysUSBDevices = "sys/bus/usb/devices"
	sysDRM        = "sys/class/drm"
)

var (
	// hidDeviceDir names the HID device under a USB interface:
	// bus:vendor:product.instance, e.g. 0003:1D6B:0104.0001.
	hidDeviceDir = regexp.MustCompile(`^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}$`)
	// drmConnector names a connector of a DRM card: card0-HDMI-A-1.
	drmConnector = regexp.MustCompile(`^card[0-9]+-(.+)$`)
)

// internalConnectors are DRM connector types of built-in panels.
var internalConnectors = []string{"eDP", "LVDS", "DSI", "DPI"}

// observeLinux reads USB devices from sysfs (sys/bus/usb/devices) and
// displays from DRM (sys/class/drm).
func observeLinux(ctx context.Context, fsys fs.FS, o *Observation) {
	readSysfsUSB(ctx, fsys, o)
	readDRMDisplays(ctx, fsys, o)
}

// readSysfsUSB reads the device entries (1-1, 3-2.4) and their interface
// entries (1-1:1.0) of sys/bus/usb/devices. Root hubs (usbN) are left
// out. The report descriptor of a HID interface is read from the HID
// device under it (1-1:1.0/0003:1D6B:0104.0001/report_descriptor).
func readSysfsUSB(ctx context.Context, fsys fs.FS, o *Observation) {
	entries, err := fs.ReadDir(fsys, sysUSBDevices)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			o.addError(sysUSBDevices, fmt.Errorf("list USB devices: %w", err))
		}
		return
	}
	ifaces := map[string][]string{} // device name → interface entry names
	var devices []string
	for _, e := range entries {
		name := e.Name()
		switch dev, _, isIface := strings.Cut(name, ":"); {
		case isIface:
			ifaces[dev] = append(ifaces[dev], name)
		case strings.HasPrefix(name, "usb"):
			// root hub
		default:
			devices = append(devices, name)
		}
	}
	for _, name := range devices {
		if ctx.Err() != nil {
			o.addError(sysUSBDevices, ctx.Err())
			return
		}
		d, ok := readSysfsDevice(fsys, name, o)
		if !ok {
			continue
		}
		for _, ifName := range ifaces[name] {
			if it, ok := readSysfsInterface(fsys, ifName, o); ok {
				d.Interfaces = append(d.Interfaces, it)
			}
		}
		o.USBDevices = append(o.USBDevices, d)
	}
}

func readSysfsDevice(fsys fs.FS, name string, o *Observation) (USBDevice, bool) {
	dir := path.Join(sysUSBDevices, name)
	d := USBDevice{Location: name}
	var err error
	if d.VendorID, err = readAttr(fsys, dir, "idVendor"); err != nil {
		o.addError(dir, fmt.Errorf("read USB device: %w", err))
		return d, false
	}
	if d.ProductID, err = readAttr(fsys, dir, "idProduct"); err != nil {
		o.addError(dir, fmt.Errorf("read USB device: %w", err))
		return d, false
	}
	d.VendorID, d.ProductID = strings.ToLower(d.VendorID), strings.ToLower(d.ProductID)
	for _, a := range []struct {
		attr string
		dst  *string
	}{
		{"bcdDevice", &d.BCDDevice},
		{"bDeviceClass", &d.DeviceClass},
		{"manufacturer", &d.Manufacturer},
		{"product", &d.Product},
		{"serial", &d.Serial},
	} {
		v, err := readAttr(fsys, dir, a.attr)
		switch {
		case err == nil:
			*a.dst = v
		case !errors.Is(err, fs.ErrNotExist):
			// A device without a string descriptor has no attribute;
			// anything else is a read failure worth recording.
			o.addError(path.Join(dir, a.attr), err)
		}
	}
	d.BCDDevice, d.DeviceClass = strings.ToLower(d.BCDDevice), strings.ToLower(d.DeviceClass)
	return d, true
}

func readSysfsInterface(fsys fs.FS, name string, o *Observation) (Interface, bool) {
	dir := path.Join(sysUSBDevices, name)
	var it Interface
	num, err := readAttr(fsys, dir, "bInterfaceNumber")
	if err != nil {
		o.addError(dir, fmt.Errorf("read USB interface: %w", err))
		return it, false
	}
	n, err := strconv.ParseUint(num, 16, 8)
	if err != nil {
		o.addError(path.Join(dir, "bInterfaceNumber"), fmt.Errorf("parse interface number %q: %w", num, err))
		return it, false
	}
	it.Number = int(n)
	for _, a := range []struct {
		attr string
		dst  *string
	}{
		{"bInterfaceClass", &it.Class},
		{"bInterfaceSubClass", &it.SubClass},
		{"bInterfaceProtocol", &it.Protocol},
	} {
		v, err := readAttr(fsys, dir, a.attr)
		if err != nil {
			o.addError(path.Join(dir, a.attr), err)
			continue
		}
		*a.dst = strings.ToLower(v)
	}
	if it.Class == "03" {
		it.HIDReportDescriptor = readSysfsReportDescriptor(fsys, dir, o)
	}
	return it, true
}

// readSysfsReportDescriptor returns the hex report descriptor of the HID
// device bound under a USB interface directory, or "" when no HID driver
// is bound (the interface then counts by its class alone).
func readSysfsReportDescriptor(fsys fs.FS, ifaceDir string, o *Observation) string {
	entries, err := fs.ReadDir(fsys, ifaceDir)
	if err != nil {
		o.addError(ifaceDir, fmt.Errorf("list HID devices: %w", err))
		return ""
	}
	for _, e := range entries {
		if !hidDeviceDir.MatchString(e.Name()) {
			continue
		}
		p := path.Join(ifaceDir, e.Name(), "report_descriptor")
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			o.addError(p, fmt.Errorf("read report descriptor: %w", err))
			return ""
		}
		return hex.EncodeToString(b)
	}
	return ""
}

// readDRMDisplays reads every connected DRM connector (status
// "connected") with its EDID. eDP, LVDS, DSI and DPI connectors are
// built-in panels.
func readDRMDisplays(ctx context.Context, fsys fs.FS, o *Observation) {
	entries, err := fs.ReadDir(fsys, sysDRM)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			o.addError(sysDRM, fmt.Errorf("list DRM connectors: %w", err))
		}
		return
	}
	for _, e := range entries {
		m := drmConnector.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if ctx.Err() != nil {
			o.addError(sysDRM, ctx.Err())
			return
		}
		dir := path.Join(sysDRM, e.Name())
		status, err := readAttr(fsys, dir, "status")
		if err != nil {
			o.addError(path.Join(dir, "status"), err)
			continue
		}
		if status != "connected" {
			continue
		}
		edid, err := fs.ReadFile(fsys, path.Join(dir, "edid"))
		if err != nil {
			o.addError(path.Join(dir, "edid"), fmt.Errorf("read EDID: %w", err))
		}
		connector := m[1]
		o.Displays = append(o.Displays, Display{
			Name:     connector,
			Internal: isInternalConnector(connector),
			EDID:     hex.EncodeToString(edid),
		})
	}
}

func isInternalConnector(connector string) bool {
	typ, _, _ := strings.Cut(connector, "-")
	for _, c := range internalConnectors {
		if typ == c {
			return true
		}
	}
	return false
}

// readAttr reads a sysfs attribute, trimmed.
func readAttr(fsys fs.FS, dir, name string) (string, error) {
	b, err := fs.ReadFile(fsys, path.Join(dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

package kvm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeWindowsRecords(t *testing.T) {
	t.Parallel()
	kb := &HIDCollection{UsagePage: 1, Usage: 6, Buttons: []HIDButtons{{UsagePage: 7, UsageMin: 0xE0, UsageMax: 0xE7}}}
	r := &windowsRecords{
		USB: []windowsDevNode{
			{InstanceID: `USB\ROOT_HUB30\4&2d1e5b8f&0&0`},
			{InstanceID: `USB\VID_1D6B&PID_0104\CAFEBABE`, HardwareIDs: []string{`USB\VID_1D6B&PID_0104&REV_0100`}, CompatibleIDs: []string{`USB\DevClass_00&SubClass_00&Prot_00`, `USB\COMPOSITE`},
				BusReportedDescription: "PiKVM Composite Device", Location: "Port_#0003.Hub_#0001"},
			{InstanceID: `USB\VID_1D6B&PID_0104&MI_00\7&1d3e6f2a&0&0000`, Parent: `usb\vid_1d6b&pid_0104\cafebabe`, CompatibleIDs: []string{`USB\Class_03&SubClass_01&Prot_01`}},
			{InstanceID: `USB\VID_1D6B&PID_0104&MI_03\7&1d3e6f2a&0&0003`, Parent: `USB\VID_1D6B&PID_0104\CAFEBABE`, CompatibleIDs: []string{`USB\Class_08&SubClass_06&Prot_50`}},
			{InstanceID: `USB\VID_046D&PID_C31C\5&1f3c4b57&0&2`, HardwareIDs: []string{`USB\VID_046D&PID_C31C&REV_6400`}, CompatibleIDs: []string{`USB\Class_03&SubClass_01&Prot_01`}},
			{InstanceID: `USB\VID_0BDA&PID_8153&MI_01\7&aa&0&0001`, Parent: `USB\VID_0BDA&PID_8153\000001`},
		},
		HID: []windowsHIDNode{
			{InstanceID: `HID\VID_1D6B&PID_0104&MI_00\8&2b6c1c8f&0&0000`, Parent: `USB\VID_1D6B&PID_0104&MI_00\7&1d3e6f2a&0&0000`, Manufacturer: "PiKVM", Serial: "IGNORED", Collection: kb},
			{InstanceID: `HID\VID_046D&PID_C31C\6&3a&0&0000`, Parent: `USB\VID_046D&PID_C31C\5&1f3c4b57&0&2`, Manufacturer: "Logitech", Product: "USB Keyboard", Collection: kb},
			{InstanceID: `HID\SYNA7DB5&COL01\5&2a9e3c2&0&0000`, Parent: `ACPI\SYNA7DB5\1`},
			{InstanceID: `HID\VID_FFFF&PID_0001\1`, Parent: `USB\VID_FFFF&PID_0001\1`, Error: "open: access denied"},
		},
		Monitors: []windowsMonitor{
			{InstanceID: `DISPLAY\BOE0A1D\4&1a3c5b0e&0&UID8388688`, EDID: strings.ToUpper(fixtureEDID(t, "boe_panel"))},
			{InstanceID: `DISPLAY\LNX7773\5&2f0c1b1&0&UID4352`, EDID: fixtureEDID(t, "pikvm_v4plus")},
			{InstanceID: `DISPLAY\Default_Monitor\1&8713bca&0&UID0`, Error: "read EDID value: The system cannot find the file specified."},
		},
	}
	o := &Observation{}
	decodeWindowsRecords(r, o)
	o.normalise()
	if len(o.USBDevices) != 2 {
		t.Fatalf("devices %+v", o.USBDevices)
	}
	// Sorted by location: the keyboard has none.
	kbd, pikvm := o.USBDevices[0], o.USBDevices[1]
	if pikvm.VendorID != "1d6b" || pikvm.ProductID != "0104" || pikvm.BCDDevice != "0100" || pikvm.Serial != "CAFEBABE" ||
		pikvm.Manufacturer != "PiKVM" || pikvm.Product != "PiKVM Composite Device" || pikvm.DeviceClass != "00" {
		t.Errorf("composite device %+v", pikvm)
	}
	if len(pikvm.Interfaces) != 2 || pikvm.Interfaces[0].Class != "03" || len(pikvm.Interfaces[0].HIDCollections) != 1 || pikvm.Interfaces[1].Number != 3 || pikvm.Interfaces[1].Class != "08" {
		t.Errorf("composite interfaces %+v", pikvm.Interfaces)
	}
	if kbd.Serial != "" || kbd.BCDDevice != "6400" || kbd.Manufacturer != "Logitech" || kbd.Product != "USB Keyboard" ||
		len(kbd.Interfaces) != 1 || kbd.Interfaces[0].Number != 0 || kbd.Interfaces[0].SubClass != "01" || len(kbd.Interfaces[0].HIDCollections) != 1 {
		t.Errorf("single-interface device %+v: a serial with '&' is Windows' own", kbd)
	}
	// Sorted by name: BOE panel, Default_Monitor, LNX (PiKVM).
	if len(o.Displays) != 3 || !o.Displays[0].Internal || o.Displays[1].EDID != "" || o.Displays[2].Internal {
		t.Errorf("displays %+v", o.Displays)
	}
	if o.Displays[0].EDID != fixtureEDID(t, "boe_panel") {
		t.Error("EDID hex not lower-cased")
	}
	var sources []string
	for _, e := range o.Errors {
		sources = append(sources, e.Source)
	}
	for _, want := range []string{`USB\VID_0BDA&PID_8153&MI_01\7&aa&0&0001`, `HID\VID_FFFF&PID_0001\1`, `DISPLAY\Default_Monitor\1&8713bca&0&UID0`} {
		if !strings.Contains(strings.Join(sources, "\n"), want) {
			t.Errorf("errors %v lack %s", sources, want)
		}
	}
}

func TestParseWindowsRecordsRejects(t *testing.T) {
	t.Parallel()
	if _, err := parseWindowsRecords([]byte(`{"usb": 3}`)); err == nil || !strings.HasPrefix(err.Error(), "decode windows device records: ") {
		t.Errorf("err = %v", err)
	}
}

// Large inputs stall Go's fuzzer, so the seeds are the fixtures' records
// split up: each composite device with its interface nodes and HID
// collections, each monitor.
func FuzzDecodeWindowsRecords(f *testing.F) {
	for _, dir := range []string{"windows-glinet_comet", "windows-clean_docked_laptop"} {
		data, err := os.ReadFile(filepath.Join("testdata", dir, "devices.json"))
		if err != nil {
			f.Fatal(err)
		}
		r, err := parseWindowsRecords(data)
		if err != nil {
			f.Fatal(err)
		}
		for _, n := range r.USB {
			if strings.Contains(n.InstanceID, "&MI_") {
				continue
			}
			seed := windowsRecords{USB: []windowsDevNode{n}}
			for _, c := range r.USB {
				if strings.EqualFold(c.Parent, n.InstanceID) {
					seed.USB = append(seed.USB, c)
					for _, h := range r.HID {
						if strings.EqualFold(h.Parent, c.InstanceID) {
							seed.HID = append(seed.HID, h)
						}
					}
				}
			}
			f.Add(mustJSON(f, seed))
		}
		for _, m := range r.Monitors {
			f.Add(mustJSON(f, windowsRecords{Monitors: []windowsMonitor{m}}))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseWindowsRecords(data)
		if err != nil {
			return
		}
		o := &Observation{}
		decodeWindowsRecords(r, o)
		o.normalise()
		for _, d := range o.USBDevices {
			if len(d.VendorID) != 4 || len(d.ProductID) != 4 {
				t.Fatalf("device ids %q:%q", d.VendorID, d.ProductID)
			}
		}
		evaluate(o, &Policy{})
	})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

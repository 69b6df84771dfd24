package kvm

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// benchObservation is a busy laptop: 30 USB devices (the fixtures' clean
// peripherals and KVM gadgets, repeated at other ports) and 3 displays.
func benchObservation(b *testing.B) json.RawMessage {
	b.Helper()
	var devices []USBDevice
	for len(devices) < 30 {
		for _, dir := range []string{"linux-clean_docked_laptop", "linux-pikvm", "darwin-jetkvm_spoofed_logitech", "windows-clean_docked_laptop"} {
			for _, d := range observeFixture(b, filepath.Join("testdata", dir)).USBDevices {
				if len(devices) == 30 {
					break
				}
				d.Location = fmt.Sprintf("%d-%d", len(devices)/8+1, len(devices)%8+1)
				devices = append(devices, d)
			}
		}
	}
	o := &Observation{Schema: Schema, OS: "linux", USBDevices: devices, Displays: []Display{
		{Name: "eDP-1", Internal: true, EDID: fixtureEDID(b, "boe_panel")},
		{Name: "DP-1", EDID: fixtureEDID(b, "dell_u2720q")},
		{Name: "HDMI-A-1", EDID: fixtureEDID(b, "pikvm_v4plus")},
	}}
	raw, err := json.Marshal(o)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeParseAndEvaluate is what `farmwatch scan --snapshot`
// costs per host: the observation's JSON decoded, then
// BenchmarkParseAndEvaluate's work.
func BenchmarkDecodeParseAndEvaluate(b *testing.B) {
	raw := benchObservation(b)
	d := &Detector{}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		o, err := d.DecodeObservation(raw)
		if err != nil {
			b.Fatal(err)
		}
		if fs := d.Evaluate(o, nil, nil); len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
}

// BenchmarkParseAndEvaluate parses every HID report descriptor and EDID
// of a decoded observation and runs every rule: Evaluate's whole work.
func BenchmarkParseAndEvaluate(b *testing.B) {
	d := &Detector{}
	o, err := d.DecodeObservation(benchObservation(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if fs := d.Evaluate(o, nil, nil); len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
}

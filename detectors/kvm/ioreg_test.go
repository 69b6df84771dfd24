package kvm

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/tools/txtar"
	"howett.net/plist"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

func TestParseIoreg(t *testing.T) {
	t.Parallel()
	const head = `<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"><plist version="1.0">`
	for _, c := range []struct {
		name    string
		in      string
		entries int
		wantErr bool
	}{
		{"no match", "", 0, false},
		{"no match, empty array", head + `<array/></plist>`, 0, false},
		{"one entry", head + `<dict><key>idVendor</key><integer>7531</integer></dict></plist>`, 1, false},
		{"array", head + `<array><dict/><dict/></array></plist>`, 2, false},
		{"array of strings", head + `<array><string>x</string></array></plist>`, 0, true},
		{"string", head + `<string>x</string></plist>`, 0, true},
		{"not a plist", "+-o Root  <class IORegistryEntry, id 0x100000100>", 0, true},
	} {
		roots, err := ParseIoreg([]byte(c.in))
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err = %v", c.name, err)
		}
		if err == nil && len(roots) != c.entries {
			t.Errorf("%s: %d entries, want %d", c.name, len(roots), c.entries)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "parse ioreg plist: ") {
			t.Errorf("%s: error %q does not name the operation", c.name, err)
		}
	}
}

// TestObserveDarwinGLKVM checks the macOS reading of the GL.iNet Comet as
// LivingInSyn/ipkvm-watch recorded it: idVendor 7531, idProduct 260,
// bcdDevice 256, "GLKVM", "Composite KVM Device", "CAFEBABE".
func TestObserveDarwinGLKVM(t *testing.T) {
	t.Parallel()
	o := observeFixture(t, filepath.Join("testdata", "darwin-glinet_comet"))
	if len(o.USBDevices) != 1 {
		t.Fatalf("devices %+v", o.USBDevices)
	}
	d := o.USBDevices[0]
	if d.VendorID != "1d6b" || d.ProductID != "0104" || d.BCDDevice != "0100" || d.Manufacturer != "GLKVM" ||
		d.Product != "Composite KVM Device" || d.Serial != "CAFEBABE" || d.Location != "00100000" {
		t.Errorf("device %+v", d)
	}
	if len(d.Interfaces) != 3 || d.Interfaces[0].HIDReportDescriptor == "" || d.Interfaces[1].HIDReportDescriptor == "" || d.Interfaces[2].Class != "08" {
		t.Errorf("interfaces %+v", d.Interfaces)
	}
}

// TestObserveDarwinBadOutput checks that output ioreg should never print
// is recorded as an error of its command.
func TestObserveDarwinBadOutput(t *testing.T) {
	t.Parallel()
	h := detectortest.EmptyHost(t, "darwin")
	h.Exec = &detectortest.Runner{Outputs: map[string][]byte{
		"ioreg " + strings.Join(ioregUSBDevices, " "):    []byte("+-o Root"),
		"ioreg " + strings.Join(ioregUSBInterfaces, " "): nil,
		"ioreg " + strings.Join(ioregDisplays[0], " "):   nil,
		"ioreg " + strings.Join(ioregDisplays[1], " "):   nil,
	}}
	obs, err := (&Detector{}).Observe(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	o := obs.(*Observation)
	if len(o.Errors) != 1 || o.Errors[0].Source != "ioreg -a -l -p IOUSB" || !strings.Contains(o.Errors[0].Error, "parse ioreg plist") {
		t.Errorf("errors %+v", o.Errors)
	}
}

// Large inputs stall Go's fuzzer, so the seeds are the fixtures' registry
// entries one by one (with their children), not whole command outputs.
func FuzzParseIoreg(f *testing.F) {
	for _, dir := range []string{"darwin-clean_docked_laptop", "darwin-glinet_comet", "darwin-jetkvm_spoofed_logitech"} {
		data, err := os.ReadFile(filepath.Join("testdata", dir, "exec.txtar"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range txtar.Parse(data).Files {
			roots, err := ParseIoreg(file.Data)
			if err != nil {
				f.Fatal(err)
			}
			walkIoreg(roots, func(e map[string]any) {
				if _, isRoot := e["IOKitBuildVersion"]; isRoot {
					return
				}
				seed, err := plist.Marshal(e, plist.XMLFormat)
				if err != nil {
					f.Fatal(err)
				}
				if len(seed) < 8<<10 {
					f.Add(seed)
				}
			})
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		roots, err := ParseIoreg(data)
		if err != nil {
			return
		}
		for _, d := range ioregUSB(roots, roots) {
			if len(d.VendorID) < 4 || len(d.ProductID) < 4 {
				t.Fatalf("device ids %q:%q", d.VendorID, d.ProductID)
			}
		}
		for _, disp := range ioregDisplayEntries(roots) {
			if len(disp.EDID) < 2*EDIDBlockSize {
				t.Fatalf("display %s with a %d-digit EDID", disp.Name, len(disp.EDID))
			}
		}
	})
}

// FuzzReadSysfs feeds arbitrary sysfs trees (as txtar archives) to the
// Linux reader. The seeds are the fixtures' devices and connectors one by
// one: their bus link, their interfaces' links and the files under them.
func FuzzReadSysfs(f *testing.F) {
	for _, dir := range []string{"linux-pikvm", "linux-clean_docked_laptop", "linux-capture_stick_ms2109"} {
		data, err := os.ReadFile(filepath.Join("testdata", dir, "host.txtar"))
		if err != nil {
			f.Fatal(err)
		}
		for _, seed := range sysfsSeeds(txtar.Parse(data)) {
			f.Add(seed)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := detectortest.ParseFS(data)
		dropChainedLinks(fsys)
		decodeBinaryAttrs(fsys) // a seed's hex attributes, as the fixtures store them
		o := &Observation{}
		observeLinux(context.Background(), fsys, o)
		for _, d := range o.USBDevices {
			if d.Location == "" {
				t.Fatalf("device without a location: %+v", d)
			}
		}
		evaluate(o, &Policy{})
	})
}

// dropChainedLinks removes the symlinks whose target is, or lies under,
// a symlink. fstest.MapFS follows links without a loop limit (os.DirFS
// fails with ELOOP; the kernel never makes sysfs loops), so a fuzzed cycle
// would hang the harness rather than test the reader.
func dropChainedLinks(m fstest.MapFS) {
	for name, f := range m {
		if f.Mode.Type() != fs.ModeSymlink {
			continue
		}
		target := path.Join(path.Dir(name), string(f.Data))
		for other, g := range m {
			if g.Mode.Type() == fs.ModeSymlink && (target == other || strings.HasPrefix(target, other+"/")) {
				delete(m, name)
				break
			}
		}
	}
}

// sysfsSeeds splits a sysfs archive into one archive per device or DRM
// connector.
func sysfsSeeds(ar *txtar.Archive) [][]byte {
	var seeds [][]byte
	for _, link := range ar.Files {
		name, target, ok := strings.Cut(link.Name, " -> ")
		if !ok || strings.Contains(path.Base(name), ":") {
			continue
		}
		real := path.Join(path.Dir(name), target)
		seed := &txtar.Archive{}
		for _, f := range ar.Files {
			n, _, isLink := strings.Cut(f.Name, " -> ")
			switch {
			case f.Name == link.Name,
				isLink && strings.HasPrefix(n, name+":"),
				!isLink && strings.HasPrefix(n, real+"/"):
				seed.Files = append(seed.Files, f)
			}
		}
		seeds = append(seeds, txtar.Format(seed))
	}
	return seeds
}

package kvm

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDescriptor reads testdata/hid/<name>.hex.
func fixtureDescriptor(t testing.TB, name string) []byte {
	t.Helper()
	s, err := os.ReadFile(filepath.Join("testdata", "hid", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func TestParseHIDReportDescriptorTraits(t *testing.T) {
	t.Parallel()
	absMouse := func(max int64) Pointer {
		return Pointer{Kind: PointerMouse, Absolute: true, XMax: max, YMax: max}
	}
	cases := []struct {
		name     string
		apps     int
		keyboard bool
		pointers []Pointer
	}{
		// Real devices.
		{"logitech_unifying_if0", 1, true, nil},
		{"logitech_unifying_if1", 4, false, []Pointer{{Kind: PointerMouse, XMin: -2047, XMax: 2047, YMin: -2047, YMax: 2047}}},
		{"logitech_unifying_if2", 3, false, nil},
		{"wacom_pth660", 2, false, []Pointer{{Kind: PointerMouse, XMin: -127, XMax: 127, YMin: -127, YMax: 127}}},
		{"egalax_0eef_7224", 5, false, []Pointer{
			{Kind: PointerTouchScreen, Absolute: true, XMax: 32767, YMax: 32767},
			{Kind: PointerGeneric, Absolute: true, XMax: 4095, YMax: 4095},
			{Kind: PointerTouchScreen, Absolute: true, XMax: 4095, YMax: 4095},
		}},
		{"yubikey_otp_keyboard", 1, true, nil},
		{"fido_u2f", 1, false, nil},
		{"qemu_tablet", 1, false, []Pointer{absMouse(32767)}},
		// KVM gadgets.
		{"tinypilot_keyboard", 1, true, nil},
		{"tinypilot_mouse_abs", 1, false, []Pointer{absMouse(32767)}},
		{"jetkvm_mouse_abs", 1, false, []Pointer{absMouse(32767)}},
		{"pikvm_mouse_abs", 1, false, []Pointer{absMouse(32767)}},
		{"nanokvm_touchpad_abs", 1, false, []Pointer{absMouse(32767)}},
		{"boot_keyboard", 1, true, nil},
		{"relative_mouse", 1, false, []Pointer{{Kind: PointerMouse, XMin: -127, XMax: 127, YMin: -127, YMax: 127}}},
		{"ch9329_mouse_abs", 2, false, []Pointer{absMouse(4095), {Kind: PointerMouse, XMin: -127, XMax: 127, YMin: -127, YMax: 127}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rd, err := ParseHIDReportDescriptor(fixtureDescriptor(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			if len(rd.Applications) != c.apps {
				t.Errorf("%d applications, want %d: %+v", len(rd.Applications), c.apps, rd.Applications)
			}
			tr := rd.Traits()
			if tr.Keyboard != c.keyboard {
				t.Errorf("keyboard = %v, want %v", tr.Keyboard, c.keyboard)
			}
			if len(tr.Pointers) != len(c.pointers) {
				t.Fatalf("pointers %+v, want %+v", tr.Pointers, c.pointers)
			}
			for i := range c.pointers {
				if tr.Pointers[i] != c.pointers[i] {
					t.Errorf("pointer %d = %+v, want %+v", i, tr.Pointers[i], c.pointers[i])
				}
			}
		})
	}
}

// TestKVMLikePointers pins which pointers count as the absolute pointer of
// a KVM: absolute mice, generic pointers and touch screens, never pens,
// touchpads or relative devices.
func TestKVMLikePointers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p    Pointer
		want bool
	}{
		{Pointer{Kind: PointerMouse, Absolute: true}, true},
		{Pointer{Kind: PointerGeneric, Absolute: true}, true},
		{Pointer{Kind: PointerTouchScreen, Absolute: true}, true},
		{Pointer{Kind: PointerMouse}, false},
		{Pointer{Kind: PointerPen, Absolute: true}, false},
		{Pointer{Kind: PointerTouchPad, Absolute: true}, false},
	} {
		if got := c.p.kvmLike(); got != c.want {
			t.Errorf("%+v kvmLike = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestParseHIDReportDescriptorItems(t *testing.T) {
	t.Parallel()
	// Logical Maximum 0xFF in one byte with a non-negative minimum is 255.
	rd, err := ParseHIDReportDescriptor([]byte{
		0x05, 0x01, 0x09, 0x02, 0xA1, 0x01, // Generic Desktop, Mouse, Application
		0x15, 0x00, 0x25, 0xFF, 0x75, 0x08, 0x95, 0x02, // 0..255, 8 bits, 2 fields
		0x09, 0x30, 0x09, 0x31, 0x81, 0x02, // X, Y, Input(Data,Var,Abs)
		0xFE, 0x02, 0x10, 0xAA, 0xBB, // a long item, skipped
		0xA4, 0x15, 0x81, 0xB4, // Push, Logical Minimum -127, Pop
		0x09, 0x38, 0x81, 0x06, // Wheel, Input(Data,Var,Rel)
		0xC0,
	})
	if err != nil {
		t.Fatal(err)
	}
	in := rd.Applications[0].Inputs
	if len(in) != 2 {
		t.Fatalf("inputs %+v", in)
	}
	if in[0].LogicalMin != 0 || in[0].LogicalMax != 255 || in[0].Relative || !in[0].Variable {
		t.Errorf("X/Y field %+v", in[0])
	}
	if in[1].LogicalMin != 0 || !in[1].Relative || !in[1].Covers(Usage{pageGenericDesktop, 0x38}) {
		t.Errorf("wheel field %+v: Pop must restore the minimum", in[1])
	}
	// An extended (4-byte) usage carries its own page.
	rd, err = ParseHIDReportDescriptor([]byte{0x05, 0x0C, 0x0B, 0x06, 0x00, 0x01, 0x00, 0xA1, 0x01, 0x0B, 0x07, 0x00, 0x07, 0x00, 0x81, 0x00, 0xC0})
	if err != nil {
		t.Fatal(err)
	}
	if app := rd.Applications[0]; app.Usage != (Usage{pageGenericDesktop, usageGDKeyboard}) || !app.Inputs[0].Covers(Usage{pageKeyboard, 0x07}) {
		t.Errorf("extended usages: %+v", app)
	}
}

func TestParseHIDReportDescriptorRejects(t *testing.T) {
	t.Parallel()
	deep := []byte{}
	for range maxCollectionNest + 1 {
		deep = append(deep, 0xA1, 0x00)
	}
	push := []byte{}
	for range maxGlobalStack + 1 {
		push = append(push, 0xA4)
	}
	for name, b := range map[string][]byte{
		"truncated short item": {0x05, 0x01, 0x26, 0xFF},
		"truncated long item":  {0xFE, 0x05, 0x10, 0x01},
		"long item header":     {0xFE, 0x05},
		"end without open":     {0xC0},
		"nesting":              deep,
		"push depth":           push,
		"pop without push":     {0xB4},
		"oversized":            make([]byte, maxDescriptorLen+1),
	} {
		if _, err := ParseHIDReportDescriptor(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "parse HID report descriptor: ") {
			t.Errorf("%s: error %q does not name the operation", name, err)
		}
	}
	if _, err := ParseHIDReportDescriptor([]byte{0x26, 0xFF}); !errors.Is(err, ErrTruncatedDescriptor) {
		t.Errorf("truncated item error %v is not ErrTruncatedDescriptor", err)
	}
}

func TestTraitsFromCollections(t *testing.T) {
	t.Parallel()
	tr := traitsFromCollections([]HIDCollection{
		{UsagePage: 1, Usage: 6, Buttons: []HIDButtons{{UsagePage: 7, UsageMin: 0xE0, UsageMax: 0xE7}}},
		{UsagePage: 1, Usage: 2, Values: []HIDValue{{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x31, Absolute: true, LogicalMax: 32767}}},
		{UsagePage: 1, Usage: 2, Values: []HIDValue{
			{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x30, LogicalMin: -2047, LogicalMax: 2047},
			{UsagePage: 1, UsageMin: 0x31, UsageMax: 0x31, LogicalMin: -2047, LogicalMax: 2047},
		}},
		{UsagePage: 0x0C, Usage: 1, Buttons: []HIDButtons{{UsagePage: 0x0C, UsageMin: 1, UsageMax: 0x2FF}}},
	})
	want := []Pointer{
		{Kind: PointerMouse, Absolute: true, XMax: 32767, YMax: 32767},
		{Kind: PointerMouse, XMin: -2047, XMax: 2047, YMin: -2047, YMax: 2047},
	}
	if !tr.Keyboard || len(tr.Pointers) != 2 || tr.Pointers[0] != want[0] || tr.Pointers[1] != want[1] {
		t.Errorf("traits %+v, want keyboard and %+v", tr, want)
	}
}

// addHexSeeds seeds f with every testdata/<dir>/*.hex fixture, read by load.
func addHexSeeds(f *testing.F, dir string, load func(testing.TB, string) []byte) {
	entries, err := os.ReadDir(filepath.Join("testdata", dir))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".hex"); ok {
			f.Add(load(f, name))
		}
	}
}

func FuzzParseHIDReportDescriptor(f *testing.F) {
	addHexSeeds(f, "hid", fixtureDescriptor)
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := ParseHIDReportDescriptor(b)
		if err != nil {
			return
		}
		inputs := 0
		for _, a := range rd.Applications {
			inputs += len(a.Inputs)
		}
		if inputs > len(b) {
			t.Fatalf("%d input fields from %d bytes", inputs, len(b))
		}
		tr := rd.Traits()
		if len(tr.Pointers) > len(rd.Applications) {
			t.Fatalf("%d pointers from %d applications", len(tr.Pointers), len(rd.Applications))
		}
	})
}

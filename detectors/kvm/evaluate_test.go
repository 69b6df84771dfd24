package kvm

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
)

// hidIface is a HID interface with a fixture report descriptor.
func hidIface(t testing.TB, num int, sub, proto, desc string) Interface {
	t.Helper()
	return Interface{Number: num, Class: "03", SubClass: sub, Protocol: proto, HIDReportDescriptor: hex.EncodeToString(fixtureDescriptor(t, desc))}
}

func usbDev(vid, pid, mfr, prod, serial string, ifaces ...Interface) USBDevice {
	return USBDevice{VendorID: vid, ProductID: pid, BCDDevice: "0100", DeviceClass: "00", Manufacturer: mfr, Product: prod, Serial: serial, Location: "1-4", Interfaces: ifaces}
}

func display(t testing.TB, name, edid string) Display {
	return Display{Name: name, EDID: fixtureEDID(t, edid)}
}

// rulesAtOrAbove returns rule → severity of the findings at or above min.
func rulesAtOrAbove(fs []detectors.Finding, min detectors.Severity) map[string]detectors.Severity {
	out := map[string]detectors.Severity{}
	for _, f := range fs {
		if f.Severity >= min {
			out[f.Rule] = f.Severity
		}
	}
	return out
}

func TestEvaluateRules(t *testing.T) {
	t.Parallel()
	msd := Interface{Number: 3, Class: "08", SubClass: "06", Protocol: "50"}
	ncm := Interface{Number: 4, Class: "02", SubClass: "0d", Protocol: "00"}
	cases := []struct {
		name     string
		devices  func(t testing.TB) []USBDevice
		displays func(t testing.TB) []Display
		want     map[string]detectors.Severity // rules at low or above, exactly
	}{
		{
			name: "Logitech Unifying receiver: keyboard and relative mouse",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("046d", "c52b", "Logitech", "USB Receiver", "",
					hidIface(t, 0, "01", "01", "logitech_unifying_if0"), hidIface(t, 1, "01", "02", "logitech_unifying_if1"), hidIface(t, 2, "00", "00", "logitech_unifying_if2"))}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "touch screen with the KVM range but no keyboard",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("0eef", "7224", "eGalax Inc.", "eGalaxTouch", "", hidIface(t, 0, "00", "00", "egalax_0eef_7224"))}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "VM tablet: absolute 0..32767 mouse without keyboard",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("0627", "0001", "QEMU", "QEMU USB Tablet", "28754-0000:00:04.0-1", hidIface(t, 0, "00", "00", "qemu_tablet"))}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "Wacom tablet and YubiKey",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{
					usbDev("056a", "0357", "Wacom Co.,Ltd.", "PTH-660", "0HA21L1003420", hidIface(t, 0, "00", "00", "wacom_pth660")),
					usbDev("1050", "0407", "Yubico", "YubiKey OTP+FIDO+CCID", "", hidIface(t, 0, "01", "01", "yubikey_otp_keyboard"), hidIface(t, 1, "00", "00", "fido_u2f")),
				}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "keyboard and absolute mouse on two devices",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{
					usbDev("413c", "2113", "Dell", "Dell KB216 Wired Keyboard", "", hidIface(t, 0, "01", "01", "boot_keyboard")),
					usbDev("0627", "0001", "QEMU", "QEMU USB Tablet", "", hidIface(t, 0, "00", "00", "qemu_tablet")),
				}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "keyboard with a pen digitizer (drawing tablet express keys)",
			devices: func(t testing.TB) []USBDevice {
				pen := Interface{Number: 1, Class: "03", HIDCollections: []HIDCollection{{UsagePage: pageDigitizer, Usage: usageDigPen, Values: []HIDValue{
					{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x31, Absolute: true, LogicalMax: 32767}}}}}
				return []USBDevice{usbDev("28bd", "0937", "UGTABLET", "Deco 01 V2", "", hidIface(t, 0, "01", "01", "boot_keyboard"), pen)}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "spoofed IDs, KVM structure: keyboard, 0..32767 mouse and a drive",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("1b1c", "1b2e", "Corsair", "Gaming RGB", "F5001A6D",
					hidIface(t, 0, "01", "01", "boot_keyboard"), hidIface(t, 1, "00", "02", "pikvm_mouse_abs"), msd)}
			},
			want: map[string]detectors.Severity{RuleComposite: detectors.SeverityHigh},
		},
		{
			name: "keyboard and touch screen on one device, other range: medium",
			devices: func(t testing.TB) []USBDevice {
				touch := Interface{Number: 1, Class: "03", HIDCollections: []HIDCollection{{UsagePage: pageDigitizer, Usage: usageDigTouchScr, Values: []HIDValue{
					{UsagePage: 1, UsageMin: 0x30, UsageMax: 0x30, Absolute: true, LogicalMax: 4095}, {UsagePage: 1, UsageMin: 0x31, UsageMax: 0x31, Absolute: true, LogicalMax: 4095}}}}}
				return []USBDevice{usbDev("abcd", "1234", "", "", "", hidIface(t, 0, "01", "01", "boot_keyboard"), touch)}
			},
			want: map[string]detectors.Severity{RuleComposite: detectors.SeverityMedium},
		},
		{
			name: "odd range but a USB NIC: high",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("abcd", "1234", "", "", "", hidIface(t, 0, "01", "01", "boot_keyboard"), hidIface(t, 1, "00", "00", "ch9329_mouse_abs"), ncm)}
			},
			want: map[string]detectors.Severity{RuleComposite: detectors.SeverityHigh},
		},
		{
			name: "PiKVM serial on a spoofed device",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("046d", "c31c", "Logitech", "USB Keyboard", "CAFEBABE")}
			},
			want: map[string]detectors.Severity{"kvm.pikvm_usb_identity": detectors.SeverityHigh},
		},
		{
			name: "only shared values: gadget VID:PID and generic product",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("1d6b", "0104", "", "USB Emulation Device", "")}
			},
			want: map[string]detectors.Severity{"kvm.jetkvm_usb_identity": detectors.SeverityMedium},
		},
		{
			name: "bare Linux gadget",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("1d6b", "0104", "Raspberry Pi", "Pi Zero Gadget", "")}
			},
			want: map[string]detectors.Severity{RuleLinuxGadget: detectors.SeverityMedium},
		},
		{
			name: "root hubs are not gadgets",
			devices: func(t testing.TB) []USBDevice {
				hub := usbDev("1d6b", "0003", "Linux 6.8.0 xhci-hcd", "xHCI Host Controller", "0000:00:14.0")
				hub.DeviceClass = "09"
				return []USBDevice{hub, usbDev("1d6b", "0002", "", "", "")}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "Dell preset strings alone: medium; Microsoft preset with absolute pointer: high",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{
					usbDev("413c", "2011", "Dell Inc.", "Multimedia Pro Keyboard", "", hidIface(t, 0, "01", "01", "boot_keyboard")),
				}
			},
			want: map[string]detectors.Severity{RuleSpoofUSB: detectors.SeverityMedium},
		},
		{
			name: "Microsoft preset with an absolute pointer",
			devices: func(t testing.TB) []USBDevice {
				d := usbDev("045e", "005f", "Microsoft", "Wireless MultiMedia Keyboard", "", hidIface(t, 0, "01", "01", "boot_keyboard"), hidIface(t, 1, "00", "02", "jetkvm_mouse_abs"))
				d.Location = "2-1"
				return []USBDevice{d}
			},
			want: map[string]detectors.Severity{RuleSpoofUSB: detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh},
		},
		{
			name: "ATEN desktop switch: low only",
			devices: func(t testing.TB) []USBDevice {
				return []USBDevice{usbDev("0557", "2213", "ATEN", "CS682", "")}
			},
			want: map[string]detectors.Severity{"kvm.aten_switch_usb_identity": detectors.SeverityLow},
		},
		{
			name: "genuine Dell D2721H and a panel",
			displays: func(t testing.TB) []Display {
				return []Display{display(t, "DP-1", "dell_d2721h_genuine"), display(t, "eDP-1", "boe_panel"), display(t, "DP-2", "lg_27ul850")}
			},
			want: map[string]detectors.Severity{},
		},
		{
			name: "KVM and preset EDIDs without a USB side",
			displays: func(t testing.TB) []Display {
				return []Display{display(t, "HDMI-A-1", "jetkvm_default"), display(t, "HDMI-A-2", "preset_philips_342e2"),
					display(t, "DP-1", "tc358743_h2c"), display(t, "DP-2", "pikvm_v3"), display(t, "DP-3", "preset_acer_b246wl")}
			},
			want: map[string]detectors.Severity{
				"kvm.jetkvm_edid": detectors.SeverityHigh, "kvm.tc358743_edid": detectors.SeverityHigh,
				"kvm.pikvm_edid": detectors.SeverityHigh, RuleSpoofEDID: detectors.SeverityHigh,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := &Observation{Schema: Schema}
			if c.devices != nil {
				o.USBDevices = c.devices(t)
			}
			if c.displays != nil {
				o.Displays = c.displays(t)
			}
			fs := (&Detector{}).Evaluate(o, nil, nil)
			for _, f := range fs {
				checkFinding(t, f)
			}
			got := rulesAtOrAbove(fs, detectors.SeverityLow)
			if len(got) != len(c.want) {
				t.Errorf("rules %v, want %v", got, c.want)
			}
			for r, s := range c.want {
				if got[r] != s {
					t.Errorf("%s: severity %v, want %v (all: %v)", r, got[r], s, got)
				}
			}
		})
	}
}

// TestEvaluateEDIDEdges covers EDIDs that almost match.
func TestEvaluateEDIDEdges(t *testing.T) {
	t.Parallel()
	edit := func(name string, f func(e []byte)) Display {
		b := fixtureEDIDBytes(t, name)
		f(b)
		b[127] = -checksum(b[:127])
		return Display{Name: "HDMI-A-1", EDID: hex.EncodeToString(b)}
	}
	blankName := func(e []byte) {
		for off := 72; off < 126; off += 18 {
			if e[off+3] == 0xFC {
				copy(e[off+5:off+18], []byte("Monitor\n     "))
			}
		}
	}
	for _, c := range []struct {
		name string
		disp Display
		want map[string]detectors.Severity
	}{
		{"JetKVM product code without its name: medium", edit("jetkvm_default", blankName), map[string]detectors.Severity{"kvm.jetkvm_edid": detectors.SeverityMedium}},
		{"capture stick vendor id without the name does not count", edit("macrosilicon_ms2109", blankName), map[string]detectors.Severity{}},
		{"preset model with another serial is a real monitor", edit("preset_dell_d2721h", func(e []byte) {
			for off := 72; off < 126; off += 18 {
				if e[off+3] == 0xFF {
					copy(e[off+5:off+18], []byte("1X2Y3Z4\n     "))
				}
			}
		}), map[string]detectors.Severity{}},
		{"not an EDID", Display{Name: "DP-9", EDID: "00ff"}, map[string]detectors.Severity{}},
		{"not hex", Display{Name: "DP-9", EDID: "zz"}, map[string]detectors.Severity{}},
	} {
		fs := evaluate(&Observation{Displays: []Display{c.disp}}, &Policy{})
		got := rulesAtOrAbove(fs, detectors.SeverityInfo)
		if len(got) != len(c.want) {
			t.Errorf("%s: rules %v, want %v", c.name, got, c.want)
		}
		for r, s := range c.want {
			if got[r] != s {
				t.Errorf("%s: %s severity %v, want %v", c.name, r, got[r], s)
			}
		}
	}
}

// TestUnparsedDescriptor checks that a HID interface whose descriptor does
// not parse still counts by its boot class and is named in the evidence.
func TestUnparsedDescriptor(t *testing.T) {
	t.Parallel()
	broken := Interface{Number: 0, Class: "03", SubClass: "01", Protocol: "01", HIDReportDescriptor: "05010906a101c0c0"}
	d := usbDev("1d6b", "0104", "PiKVM", "PiKVM Composite Device", "CAFEBABE", broken)
	fs := evaluate(&Observation{USBDevices: []USBDevice{d}}, &Policy{})
	if len(fs) != 1 || fs[0].Rule != "kvm.pikvm_usb_identity" {
		t.Fatalf("findings %+v", fs)
	}
	if got, _ := fs[0].Evidence["unparsed_report_descriptors"].([]int); !slices.Equal(got, []int{0}) {
		t.Errorf("evidence %v lacks the unparsed interface", fs[0].Evidence)
	}
	v := (&evaluation{}).viewDevice(&d)
	if !slices.Equal(v.keyboards, []int{0}) {
		t.Errorf("boot keyboard class not counted: %+v", v)
	}
}

func TestFindingIDsAreStable(t *testing.T) {
	t.Parallel()
	o := observeFixture(t, "testdata/linux-pikvm")
	a := (&Detector{}).Evaluate(o, nil, nil)
	b := (&Detector{}).Evaluate(observeFixture(t, "testdata/linux-pikvm"), nil, nil)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("findings %d and %d", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("%s: id %s then %s", a[i].Rule, a[i].ID, b[i].ID)
		}
	}
	// Another serial is another device, hence another finding id.
	o.USBDevices[slices.IndexFunc(o.USBDevices, func(d USBDevice) bool { return d.VendorID == "1d6b" })].Serial = "DEADBEEF"
	c := (&Detector{}).Evaluate(o, nil, nil)
	for _, f := range c {
		if f.Rule == "kvm.pikvm_usb_identity" {
			for _, g := range a {
				if g.Rule == f.Rule && g.ID == f.ID {
					t.Errorf("same id %s for another serial", f.ID)
				}
			}
		}
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	o := observeFixture(t, "testdata/linux-pikvm")
	var pikvmEDID string
	for _, f := range evaluate(o, &Policy{}) {
		if f.Rule == "kvm.pikvm_edid" {
			pikvmEDID = f.Evidence["edid_fingerprint"].(string)
		}
	}
	for _, c := range []struct {
		name string
		raw  string
		want []string // rules at medium or above
	}{
		{"default", ``, []string{"kvm.pikvm_usb_identity", RuleComposite, "kvm.pikvm_edid", RuleCorroborated}},
		{"null", `null`, []string{"kvm.pikvm_usb_identity", RuleComposite, "kvm.pikvm_edid", RuleCorroborated}},
		{"allow the lab PiKVM", `{"allow_usb":[{"vendor_id":"1D6B","product_id":"0104","serial":"cafebabe"}]}`, []string{"kvm.pikvm_edid"}},
		{"allow another serial", `{"allow_usb":[{"vendor_id":"1d6b","product_id":"0104","serial":"0000"}]}`, []string{"kvm.pikvm_usb_identity", RuleComposite, "kvm.pikvm_edid", RuleCorroborated}},
		{"allow the EDID", `{"allow_edid_fingerprints":["` + strings.ToUpper(pikvmEDID) + `"]}`, []string{"kvm.pikvm_usb_identity", RuleComposite}},
		{"disable identity rules", `{"disable_rules":["kvm.pikvm_usb_identity","kvm.pikvm_edid"]}`, []string{RuleComposite}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := &Detector{}
			pol, err := d.DecodePolicy(json.RawMessage(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			got := rulesAtOrAbove(d.Evaluate(o, nil, pol), detectors.SeverityMedium)
			if len(got) != len(c.want) {
				t.Errorf("rules %v, want %v", got, c.want)
			}
			for _, r := range c.want {
				if _, ok := got[r]; !ok {
					t.Errorf("missing %s in %v", r, got)
				}
			}
		})
	}
}

func TestDecodePolicyRejects(t *testing.T) {
	t.Parallel()
	for name, raw := range map[string]string{
		"not json":        `{`,
		"unknown field":   `{"allow":[]}`,
		"bad vendor id":   `{"allow_usb":[{"vendor_id":"1d6","product_id":"0104"}]}`,
		"bad fingerprint": `{"allow_edid_fingerprints":["abc"]}`,
		"unknown rule":    `{"disable_rules":["kvm.nope"]}`,
	} {
		if _, err := decodePolicy(json.RawMessage(raw)); err == nil {
			t.Errorf("%s: accepted %s", name, raw)
		} else if !strings.HasPrefix(err.Error(), "kvm policy: ") {
			t.Errorf("%s: error %q does not name the policy", name, err)
		}
	}
}

func TestDecodeObservation(t *testing.T) {
	t.Parallel()
	d := &Detector{}
	o, err := d.DecodeObservation(json.RawMessage(`{"usb_devices":[{"vendor_id":"1d6b","product_id":"0104","serial":"CAFEBABE","interfaces":[]}],"displays":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.ObservationSchema() != Schema || len(o.(*Observation).USBDevices) != 1 {
		t.Errorf("decoded %+v", o)
	}
	for name, raw := range map[string]string{
		"other schema": `{"schema":"kvm/v2","usb_devices":[]}`,
		"bad json":     `{"usb_devices":`,
		"bad type":     `{"usb_devices":{}}`,
	} {
		if _, err := d.DecodeObservation(json.RawMessage(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if fs := d.Evaluate(nil, nil, nil); fs != nil {
		t.Errorf("Evaluate of no observation = %v", fs)
	}
}

func TestRulesAreWellFormed(t *testing.T) {
	t.Parallel()
	rules := Rules()
	if len(rules) != len(dedupe(rules)) {
		t.Errorf("duplicate rule ids in %v", rules)
	}
	for _, r := range rules {
		if !strings.HasPrefix(r, "kvm.") || strings.ToLower(r) != r || strings.ContainsAny(r, " -") {
			t.Errorf("bad rule id %q", r)
		}
	}
	for _, f := range usbFamilies {
		if f.source == "" || f.name == "" {
			t.Errorf("family %s lacks a name or source", f.id)
		}
	}
	for _, s := range edidSignatures {
		if s.source == "" || s.minScore < 1 {
			t.Errorf("EDID signature %s lacks a source or score", s.id)
		}
	}
}

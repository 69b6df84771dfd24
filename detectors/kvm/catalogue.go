package kvm

import (
	"regexp"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// The identities below are the defaults of IP-KVM firmware and capture
// chips, read from their source code and public device dumps
// (reference/signals.md §2.1, §2.2, §2.4, which cites each value's file
// and commit). Spoofing features change them; the structural rule
// (kvm.absolute_pointer_keyboard_composite) is what survives that.

// usbFamily is the default USB identity of one KVM family. Strong values
// are distinctive on their own; weak values are shared with other
// products (the Linux Foundation gadget VID:PID, generic product names)
// and only count together.
type usbFamily struct {
	id   string // rule "kvm.<id>_usb_identity"
	name string // what the device is, for people
	// also is a sentence naming products that share these defaults.
	also string
	// ceiling caps the severity (a local KVM switch is not an IP-KVM).
	ceiling detectors.Severity
	source  string

	vendors       []string // vendor ids that only this family uses
	vidpids       []string // "vvvv:pppp"
	manufacturers []string
	products      []string
	serials       []string

	weakVIDPIDs       []string
	weakManufacturers []string
	weakProducts      []string
	weakSerials       []string
}

var usbFamilies = []usbFamily{
	{
		id: "pikvm", name: "PiKVM", ceiling: detectors.SeverityHigh,
		also:          "The GL.iNet Comet (GLKVM) ships the same VID:PID and serial.",
		source:        "pikvm/kvmd kvmd/apps/_scheme.py, kvmd/apps/otg/__init__.py, hid/pico/src/ph_usb.c (signals.md §2.1)",
		vidpids:       []string{"1209:eda2", "1209:eda3"},
		manufacturers: []string{"PiKVM", "Pi-KVM"},
		products:      []string{"PiKVM Composite Device", "PiKVM HID", "PiKVM HID Bridge"},
		serials:       []string{"CAFEBABE"},
		weakVIDPIDs:   []string{"1d6b:0104"},
		weakProducts:  []string{"Composite KVM Device"},
	},
	{
		id: "glinet", name: "GL.iNet Comet (GLKVM)", ceiling: detectors.SeverityHigh,
		also:          "GLKVM firmware is a fork of PiKVM's kvmd.",
		source:        "gl-inet/glkvm kvmd/apps/__init__.py; LivingInSyn/ipkvm-watch _device_output (signals.md §2.1)",
		vendors:       []string{"38eb"},
		manufacturers: []string{"GLKVM", "Glinet"},
		products:      []string{"Glinet Composite Device"},
		weakVIDPIDs:   []string{"1d6b:0104"},
		weakProducts:  []string{"Composite KVM Device"},
		weakSerials:   []string{"CAFEBABE"},
	},
	{
		id: "tinypilot", name: "TinyPilot", ceiling: detectors.SeverityHigh,
		also:          "BliKVM's native firmware reuses the serial.",
		source:        "tiny-pilot/tinypilot debian-pkg/opt/tinypilot-privileged/init-usb-gadget (signals.md §2.1)",
		manufacturers: []string{"tinypilot"},
		serials:       []string{"6b65796d696d6570690"},
		weakVIDPIDs:   []string{"1d6b:0104"},
		weakProducts:  []string{"Multifunction USB Device"},
	},
	{
		id: "blikvm", name: "BliKVM", ceiling: detectors.SeverityHigh,
		also:          "BliKVM hardware can also run PiKVM OS and then shows PiKVM's identity.",
		source:        "ThomasVon2021/blikvm package/kvmd-hid/enable-gadget.sh (signals.md §2.1)",
		manufacturers: []string{"smart-kvm"},
		weakVIDPIDs:   []string{"1d6b:0106"},
		weakProducts:  []string{"Multifunction USB Device"},
		weakSerials:   []string{"6b65796d696d6570690"},
	},
	{
		id: "jetkvm", name: "JetKVM", ceiling: detectors.SeverityHigh,
		source:        "jetkvm/kvm config.go, internal/usbgadget/config.go (signals.md §2.1)",
		manufacturers: []string{"JetKVM"},
		products:      []string{"JetKVM USB Emulation Device"},
		weakVIDPIDs:   []string{"1d6b:0104"},
		weakProducts:  []string{"USB Emulation Device"},
	},
	{
		id: "nanokvm", name: "Sipeed NanoKVM", ceiling: detectors.SeverityHigh,
		source:            "sipeed/NanoKVM kvmapp/system/init.d/S03usbdev (signals.md §2.1)",
		vidpids:           []string{"3346:1009"},
		products:          []string{"NanoKVM"},
		weakManufacturers: []string{"sipeed"},
		weakSerials:       []string{"0123456789ABCDEF"},
	},
	{
		id: "ch9329", name: "CH9329 serial-to-HID bridge of a USB KVM (Openterface, NanoKVM-USB)", ceiling: detectors.SeverityMedium,
		source:  "community CH9329 scripts; TechxArtisanStudio/Openterface_QT (signals.md §2.1, low confidence)",
		vidpids: []string{"1a86:e129"},
	},
	{
		id: "raritan", name: "Raritan KVM dongle (computer interface module)", ceiling: detectors.SeverityHigh,
		source:  "linux-usb.org usb.ids names in public lsusb dumps: 14dd:1007 D2CIM-VUSB, 14dd:1010 KX4-101 (signals.md §2.1)",
		vendors: []string{"14dd"},
	},
	{
		id: "aten", name: "ATEN KVM-over-IP virtual keyboard/mouse", ceiling: detectors.SeverityHigh,
		source:  "linux-usb.org usb.ids names in public lsusb dumps: 0557:2419, 0557:2221 (signals.md §2.1)",
		vidpids: []string{"0557:2419", "0557:2221"},
	},
	{
		id: "aten_switch", name: "ATEN CS682 desktop KVM switch", ceiling: detectors.SeverityLow,
		source:  "linux-usb.org usb.ids name in public lsusb dumps: 0557:2213 (signals.md §2.1)",
		vidpids: []string{"0557:2213"},
	},
}

// edidSignature is the EDID a KVM's HDMI capture side or a capture chip
// presents to the laptop. A manufacturer with one of the product codes
// scores 1 (2 when the manufacturer id alone is distinctive); a listed
// monitor name or serial string scores 2, or 1 when the name is generic.
type edidSignature struct {
	id     string // rule "kvm.<id>_edid", or kvm.capture_edid when capture
	name   string
	also   string
	source string
	// capture marks HDMI capture chips rather than KVM firmware defaults.
	capture bool
	// minScore is the score needed to match.
	minScore int

	manufacturer  string
	productCodes  []uint16
	anyProduct    bool // the manufacturer id alone is distinctive
	names         []string
	namePrefixes  []string
	genericNames  []string
	serialStrings []string
	serialNumbers []uint32 // 32-bit serials, counted only with the manufacturer
}

var edidSignatures = []edidSignature{
	{
		id: "pikvm", name: "PiKVM HDMI capture", minScore: 1,
		also:          "GL.iNet's GLKVM repository ships the same EDID files.",
		source:        "pikvm/kvmd configs/kvmd/edid/*.hex, tc358743-edid.hex (signals.md §2.2)",
		manufacturer:  "LNX",
		productCodes:  []uint16{0x7770, 0x7771, 0x7772, 0x7773, 0x8888},
		namePrefixes:  []string{"PiKVM"},
		serialStrings: []string{"CAFEBABE"},
	},
	{
		id: "tinypilot", name: "TinyPilot HDMI capture", minScore: 1,
		source:       "tiny-pilot/tinypilot debian-pkg/usr/share/tinypilot/edid_pi4.hex (signals.md §2.2)",
		manufacturer: "TSB", productCodes: []uint16{0x9876},
		names: []string{"TinyPilot"},
	},
	{
		id: "jetkvm", name: "JetKVM HDMI capture", minScore: 1,
		source:       "jetkvm/kvm jsonrpc.go, ui/src/routes/devices.$id.settings.video.tsx (signals.md §2.2)",
		manufacturer: "TSB", productCodes: []uint16{0x8801},
		names: []string{"T749-fHD720"},
	},
	{
		id: "tc358743", name: "Toshiba TC358743 HDMI-to-CSI bridge default (BliKVM, PiKVM before 2022, DIY Raspberry Pi KVMs)", minScore: 1,
		source:       "ThomasVon2021/blikvm package/ustreamer/edid.txt; pikvm/kvmd tc358743-edid.hex history (signals.md §2.2)",
		manufacturer: "TSB", productCodes: []uint16{0x8888},
		names:         []string{"Toshiba-H2C"},
		serialNumbers: []uint32{0x88888800},
	},
	{
		id: "nanokvm", name: "Sipeed NanoKVM HDMI capture", minScore: 1,
		source:       "sipeed/NanoKVM tools/nanokvm_update_edid/E21_NanoKVM.bin (signals.md §2.2)",
		manufacturer: "SPD", productCodes: []uint16{0x3301},
		names:         []string{"NanoKVM"},
		serialStrings: []string{"NanoKVM"},
	},
	{
		id: "raritan", name: "Raritan KVM computer interface module", minScore: 2,
		source:       "PnP id RMC = Raritan Computer, Inc (signals.md §2.2)",
		manufacturer: "RMC", anyProduct: true,
	},
	{
		id: "macrosilicon", name: "MacroSilicon MS2109/MS2130 USB HDMI capture stick", capture: true, minScore: 2,
		source:       "daniel-starke/vkvm doc/hdmi-cap4.md, hdmi-cap7.md, hdmi-cap8.md (signals.md §2.2)",
		manufacturer: "HJW", productCodes: []uint16{0x1836, 0x2109},
		names: []string{"MACROSILICON", "HD TO USB"},
	},
	{
		id: "fhd_capture", name: "FHD/UHD USB capture device (1bcf:2c99)", capture: true, minScore: 2,
		source:       "daniel-starke/vkvm doc/hdmi-cap2.md (signals.md §2.2)",
		manufacturer: "GSM", productCodes: []uint16{0x7666},
		genericNames: []string{"CAPTURE"},
	},
	{
		id: "suntech_capture", name: "SUNTECH PVR USB capture device", capture: true, minScore: 2,
		source:       "daniel-starke/vkvm doc/hdmi-cap3.md (signals.md §2.2)",
		manufacturer: "SUM", productCodes: []uint16{0x0000},
		names: []string{"SUNTECH PVR"},
	},
	{
		id: "usb3_capture", name: "USB 3 HDMI capture device (eba4:7588)", capture: true, minScore: 2,
		source:       "daniel-starke/vkvm doc/hdmi-cap5.md (signals.md §2.2)",
		manufacturer: "CAP", productCodes: []uint16{0x0100},
		genericNames: []string{"Capture"},
	},
	{
		id: "hdmi_encoder", name: "HDMI encoder capture device (1de1:f105)", capture: true, minScore: 2,
		source: "daniel-starke/vkvm doc/hdmi-cap6.md (signals.md §2.2)",
		names:  []string{"HDMI Encoder"},
	},
	{
		id: "usbtv_capture", name: "usbtv HDMI capture device (1b71:3002)", capture: true, minScore: 2,
		source:       "daniel-starke/vkvm doc/hdmi-cap1.md (signals.md §2.2)",
		manufacturer: "AGO", productCodes: []uint16{0x0001},
		genericNames: []string{"HDMI"},
	},
}

// edidPreset is a real monitor's EDID that a KVM ships as a spoofing
// preset. The serial string is the copied monitor's own, so the same
// value on a laptop is either that one monitor or a KVM.
type edidPreset struct {
	kvm          string
	model        string
	manufacturer string
	productCode  uint16
	serial       string
	source       string
}

var edidPresets = []edidPreset{
	{"JetKVM", "Acer B246WL", "ACR", 0x0565, "T8NEE0038522", "jetkvm/kvm ui/src/routes/devices.$id.settings.video.tsx (signals.md §2.2)"},
	{"JetKVM", "ASUS PA248QV", "AUS", 0x2487, "M1LMQS052157", "jetkvm/kvm ui/src/routes/devices.$id.settings.video.tsx (signals.md §2.2)"},
	{"JetKVM", "DELL D2721H", "DEL", 0x2013, "3S5GQ23", "jetkvm/kvm ui/src/routes/devices.$id.settings.video.tsx (signals.md §2.2)"},
	{"NanoKVM", "Philips 342E2", "PHL", 0xC233, "UK02143047718", "sipeed/NanoKVM support/sg2002/additional/kvm/src/kvm_vision.cpp (signals.md §2.2)"},
}

// usbPreset is a USB identity a KVM offers as a spoofing preset. When
// genuine is set, real devices report the same strings, so the preset
// needs the KVM's structure (an absolute pointer) to be more than a hint.
type usbPreset struct {
	kvm          string
	vidpid       string
	manufacturer string
	product      string
	genuine      bool
	source       string
}

var usbPresets = []usbPreset{
	{"JetKVM", "046d:c52b", "Logitech (x64)", "Logitech USB Input Device", false, "jetkvm/kvm ui/src/components/UsbInfoSetting.tsx (signals.md §2.4)"},
	{"JetKVM", "045e:005f", "Microsoft", "Wireless MultiMedia Keyboard", true, "jetkvm/kvm ui/src/components/UsbInfoSetting.tsx (signals.md §2.4)"},
	{"JetKVM", "413c:2011", "Dell Inc.", "Multimedia Pro Keyboard", true, "jetkvm/kvm ui/src/components/UsbInfoSetting.tsx (signals.md §2.4)"},
}

// instanceIDSerial matches the serial JetKVM's presets generate,
// "<1-9>&<7 hex>&0&1": it imitates the instance id Windows makes up for a
// device without a serial. A real USB serial string never looks like it.
var instanceIDSerial = regexp.MustCompile(`^[1-9]&[0-9A-Fa-f]{7,8}&0&[0-9]{1,2}$`)

func init() {
	// Families match lower-cased, trimmed device values (see keyOf).
	for i := range usbFamilies {
		f := &usbFamilies[i]
		for _, l := range []*[]string{&f.vendors, &f.vidpids, &f.manufacturers, &f.products, &f.serials,
			&f.weakVIDPIDs, &f.weakManufacturers, &f.weakProducts, &f.weakSerials} {
			for j, v := range *l {
				(*l)[j] = strings.ToLower(v)
			}
		}
	}
}

func eqFold(list []string, v string) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return false
	}
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

func prefixFold(list []string, v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return false
	}
	for _, x := range list {
		if strings.HasPrefix(v, strings.ToLower(x)) {
			return true
		}
	}
	return false
}

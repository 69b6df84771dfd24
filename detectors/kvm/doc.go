// Package kvm is the kvm detector: it finds IP-KVM and capture hardware
// attached to a laptop (PiKVM, TinyPilot, JetKVM, Sipeed NanoKVM, GL.iNet
// Comet, BliKVM, enterprise KVM dongles, home-made Raspberry Pi and
// CH9329 builds, HDMI capture sticks), the hardware side of a laptop farm
// that software inventories miss.
//
// An IP-KVM shows itself to the laptop twice: as a USB gadget (keyboard,
// absolute-position mouse, often a virtual drive or network adapter) and
// as the EDID of its HDMI capture input, which the laptop takes for a
// monitor. The detector records both (observation "kvm/v1": USB devices
// with their interfaces and HID report descriptors, connected displays
// with their raw EDID) and judges them by identity (default IDs, strings
// and EDIDs of each family, and the presets KVMs offer to disguise
// themselves) and by structure, which survives ID spoofing.
//
// # What lives here
//
// Plain-Go parsers, compiled and tested on every OS against recorded data
// in testdata: ParseHIDReportDescriptor (HID 1.11 items, usage pages,
// collections, Input items with their Relative bit and logical range),
// ParseEDID (base block, PnP id, descriptors, checksum, SHA-256
// fingerprint), ParseIoreg (ioreg -a property lists), the sysfs reader and
// the decoder of Windows device records. The one file that calls OS-only
// APIs is setupapi_windows.go (SetupAPI and hid.dll through
// golang.org/x/sys/windows); it collects records and interprets nothing.
// Nothing here touches the host except through the *detectors.Host given
// to Observe, or imports agent, transport or collector.
//
// # How each OS is read
//
// Linux (h.FS): sys/bus/usb/devices: device entries (idVendor, idProduct,
// bcdDevice, bDeviceClass, manufacturer, product, serial; root hubs usbN
// left out), interface entries 1-1:1.0 (bInterfaceNumber, class, subclass,
// protocol) and, for HID interfaces, the raw descriptor in
// <interface>/<bus:vid:pid.n>/report_descriptor. Displays are the DRM
// connectors sys/class/drm/card*-* whose status is "connected", with their
// edid; eDP, LVDS, DSI and DPI connectors are internal.
//
// macOS (h.Exec, allow-listed ioreg): "ioreg -a -l -p IOUSB" for the
// devices (idVendor, idProduct, bcdDevice, bDeviceClass, "USB Vendor
// Name"/kUSBVendorString, "USB Product Name"/kUSBProductString, "USB
// Serial Number"/kUSBSerialNumberString, locationID); "ioreg -a -l -r -c
// IOUSBHostInterface" for each interface with its subtree, where the HID
// driver node carries the raw ReportDescriptor, joined to its device by
// locationID (IOHIDDevice listings carry no interface number, so the
// interface plane is the one that gives the device's structure); "ioreg
// -a -l -r -d 1 -k IODisplayEDID" (Intel: AppleDisplay,
// AppleBacklightDisplay) and "ioreg -a -l -r -d 1 -k EDID" (Apple Silicon
// DCP display nodes) for displays, taking any EDID-named data property of
// at least one block with the EDID header (IODisplayEDIDOriginal first).
// An AppleBacklightDisplay is internal, an AppleDisplay external; other
// nodes are judged by their EDID as on Windows.
//
// Windows (SetupAPI, hid.dll): the present device nodes of the "USB"
// enumerator (instance ids USB\VID_xxxx&PID_xxxx[&MI_nn]\<instance>,
// hardware ids with REV_, compatible ids with the device and interface
// classes, the bus-reported product string, the location, the parent
// node), the present nodes of the "HID" enumerator, each opened without
// access rights to read its strings (HidD_Get*String) and its top-level
// collection (HidD_GetPreparsedData, HidP_GetCaps, HidP_GetValueCaps,
// HidP_GetButtonCaps). Windows does not expose raw report descriptors, so
// HID interfaces carry hid_collections (usage page/usage, each value's
// usages, absolute or relative, logical minimum and maximum) instead. The
// serial is the instance id's last part when it has no '&' (Windows makes
// one up otherwise, and upper-cases real ones). Monitors are the present
// GUID_DEVCLASS_MONITOR nodes with their Device Parameters\EDID value.
// Windows tells a service nothing reliable about the connector, so a
// monitor is internal when its EDID looks like a laptop panel: digital, no
// monitor-name descriptor (which EDID 1.3 requires of every monitor) and
// at least one unspecified-text descriptor (where panel makers put their
// part number).
//
// A source that cannot be read is listed in the observation's errors, so
// an unreadable source is never taken for an absent device.
//
// # Structure that survives spoofing
//
// Every open-source IP-KVM emulates one composite USB device with a
// keyboard and an absolute-position pointer (PiKVM, TinyPilot, JetKVM and
// NanoKVM all declare X/Y with logical range 0..32767), because a remote
// viewer clicks on coordinates. Spoofing tools copy IDs and strings, not
// report descriptors. So: a keyboard (a Keyboard/Keypad application that
// reports keys) and an absolute pointer (X and Y data inputs without the
// Relative bit) on the same device is the KVM shape. Absolute pointers
// count when their application is a Mouse, a Pointer or a Touch Screen
// (JetKVM's touchscreen mode). Pens and touchpads do not count: keyboards
// carry touchpads (Surface Type Cover) and pen tablets carry express-key
// keyboards (Huion, XP-Pen). A digitizer or touch screen alone is never
// flagged (the eGalax touch screen in testdata declares exactly 0..32767),
// nor is a VM's absolute tablet without a keyboard, nor a Logitech
// Unifying receiver, whose keyboard and mouse share a device but whose
// mouse is relative. The finding is high when the range is 0..32767 or
// the device also has a mass-storage or USB-Ethernet interface, medium
// otherwise.
//
// # Rules
//
// Severity is the highest the rule emits; lower cases are noted.
//
//	rule                                       severity   meaning
//	kvm.pikvm_usb_identity                     high       default USB identity of PiKVM (1d6b:0104, "PiKVM"/"Pi-KVM", CAFEBABE; Pico HID 1209:eda2/eda3)
//	kvm.glinet_usb_identity                    high       GL.iNet Comet / GLKVM (vendor 38eb, "GLKVM"/"Glinet", shares PiKVM's defaults)
//	kvm.tinypilot_usb_identity                 high       TinyPilot ("tinypilot", serial 6b65796d696d6570690)
//	kvm.blikvm_usb_identity                    high       BliKVM native firmware (1d6b:0106, "smart-kvm")
//	kvm.jetkvm_usb_identity                    high       JetKVM ("JetKVM", "USB Emulation Device")
//	kvm.nanokvm_usb_identity                   high       Sipeed NanoKVM (3346:1009, "NanoKVM")
//	kvm.ch9329_usb_identity                    medium     CH9329 serial-to-HID bridge of a USB KVM (1a86:e129; low-confidence source)
//	kvm.raritan_usb_identity                   high       Raritan KVM computer interface module (vendor 14dd)
//	kvm.aten_usb_identity                      high       ATEN KVM-over-IP virtual keyboard/mouse (0557:2419, 0557:2221)
//	kvm.aten_switch_usb_identity               low        ATEN CS682 desktop KVM switch (0557:2213), not remote access
//	kvm.absolute_pointer_keyboard_composite    high       keyboard and absolute pointer on one USB device (medium without the 0..32767 range, drive or NIC)
//	kvm.linux_gadget_vendor                    medium     a non-root-hub device with the Linux Foundation vendor id 1d6b: a Linux board posing as a USB device (only when no family matched)
//	kvm.spoof_preset_usb                       high       a KVM's spoofing preset identity (JetKVM "Logitech (x64)" 046d:c52b; its Microsoft/Dell presets, medium unless the device also has an absolute pointer) or a serial shaped like a Windows instance id
//	kvm.pikvm_edid                             high       PiKVM EDID (LNX 7770–7773/8888, "PiKVM…", CAFEBABE)
//	kvm.tinypilot_edid                         high       TinyPilot EDID (TSB 9876 "TinyPilot")
//	kvm.jetkvm_edid                            high       JetKVM EDID (TSB 8801 "T749-fHD720")
//	kvm.tc358743_edid                          high       Toshiba TC358743 bridge default (TSB 8888 "Toshiba-H2C": BliKVM, old PiKVM, DIY Pi KVMs)
//	kvm.nanokvm_edid                           high       NanoKVM EDID (SPD 3301 "NanoKVM")
//	kvm.raritan_edid                           high       Raritan CIM EDID (PnP id RMC)
//	kvm.capture_edid                           medium     an HDMI capture chip as a monitor (MacroSilicon HJW "MACROSILICON"/"HD TO USB", other capture sticks)
//	kvm.spoof_preset_edid                      high       a real monitor's EDID shipped as a KVM preset, recognised by the copied serial (JetKVM: Acer B246WL, ASUS PA248QV, DELL D2721H; NanoKVM: PHL 342E2)
//	kvm.usb_and_display_corroborated           critical   a USB-side and a display-side finding (medium or above) on the same laptop
//
// Family EDID rules are medium when only the manufacturer and product
// code match. Identity rules are medium when only shared values match
// (the gadget VID:PID with a generic product name). Every finding carries
// MITRE T1219.003 and T1200, says what the device is believed to be and
// what matched, and carries a normalised identity in its evidence
// (usb_vendor_id, usb_product_id, usb_serial upper-cased, usb_location;
// edid_manufacturer, edid_product_code, edid_serial, edid_fingerprint =
// hex SHA-256 of the 128-byte base block) so the collector can see the
// same KVM, or the same cloned EDID, across many laptops. Evaluate ignores
// the previous observation.
//
// # Policy
//
// The policy section allows sanctioned devices by USB identity
// (allow_usb: vendor_id, product_id, optional serial) or EDID fingerprint
// (allow_edid_fingerprints), and can switch rules off (disable_rules).
// Allowed devices and disabled rules take no part in corroboration.
package kvm

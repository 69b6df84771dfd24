package kvm

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Rule ids that do not depend on a family. Family rules are
// "kvm.<family>_usb_identity" and "kvm.<family>_edid"; Rules lists all.
const (
	RuleComposite    = "kvm.absolute_pointer_keyboard_composite"
	RuleLinuxGadget  = "kvm.linux_gadget_vendor"
	RuleSpoofUSB     = "kvm.spoof_preset_usb"
	RuleCaptureEDID  = "kvm.capture_edid"
	RuleSpoofEDID    = "kvm.spoof_preset_edid"
	RuleCorroborated = "kvm.usb_and_display_corroborated"
)

// kvmAbsMax is the logical maximum of X and Y that PiKVM, TinyPilot,
// JetKVM and NanoKVM all declare for their absolute mouse (signals.md
// §2.1, cross-cutting structural fingerprint).
const kvmAbsMax = 32767

var mitre = []string{"T1219.003", "T1200"}

func usbIdentityRule(family string) string { return "kvm." + family + "_usb_identity" }
func edidRule(family string) string        { return "kvm." + family + "_edid" }

// Rules returns every rule id this detector can emit, sorted.
func Rules() []string {
	rules := []string{RuleComposite, RuleLinuxGadget, RuleSpoofUSB, RuleCaptureEDID, RuleSpoofEDID, RuleCorroborated}
	for _, f := range usbFamilies {
		rules = append(rules, usbIdentityRule(f.id))
	}
	for _, s := range edidSignatures {
		if !s.capture {
			rules = append(rules, edidRule(s.id))
		}
	}
	sort.Strings(rules)
	return rules
}

const (
	rationaleKVM = "An IP-KVM is a small computer that plays keyboard, mouse and monitor to the laptop, so that someone elsewhere can operate it over the network. " +
		"Laptop-farm facilitators use them to hand remote workers control of corporate laptops in a way software inventories do not see (MITRE T1219.003, remote access hardware; T1200, hardware additions)."
	remediationKVM = "Find out where the laptop is and what is plugged into its USB and HDMI ports; confirm with the assigned user. " +
		"If the device is a sanctioned lab or imaging set-up, allow its identity in the kvm policy (allow_usb, allow_edid_fingerprints)."
)

// evaluation gathers the findings of one Evaluate call.
type evaluation struct {
	pol      *Policy
	findings []detectors.Finding
	// scratch holds decoded report descriptors, one at a time.
	scratch []byte
	// usbSide and displaySide index the medium-or-above findings of each
	// side, for the corroboration rule.
	usbSide, displaySide []int
}

func evaluate(o *Observation, pol *Policy) []detectors.Finding {
	ev := &evaluation{pol: pol}
	for i := range o.USBDevices {
		d := &o.USBDevices[i]
		if pol.allowsUSB(d) {
			continue
		}
		ev.usbDevice(d)
	}
	for i := range o.Displays {
		ev.display(&o.Displays[i])
	}
	ev.corroborate()
	if ev.findings == nil {
		return []detectors.Finding{}
	}
	detectors.SortFindings(ev.findings)
	return ev.findings
}

// add records a finding unless the policy disables its rule. A recorded
// finding of medium or above counts for side's corroboration.
func (ev *evaluation) add(f detectors.Finding, side *[]int) {
	if ev.pol.disabled(f.Rule) {
		return
	}
	if f.MITRE == nil {
		f.MITRE = mitre
	}
	f.Confidence = math.Round(f.Confidence*100) / 100
	ev.findings = append(ev.findings, f)
	if side != nil && f.Severity >= detectors.SeverityMedium {
		*side = append(*side, len(ev.findings)-1)
	}
}

// deviceView is what one USB device's interfaces add up to.
type deviceView struct {
	d         *USBDevice
	vidpid    string
	keyboards []int // interface numbers with a keyboard
	pointer   *Pointer
	pointerIf int
	storage   bool
	network   bool
	// undecodable lists interfaces whose report descriptor did not
	// parse; they still count by interface class.
	undecodable []int
}

func (ev *evaluation) viewDevice(d *USBDevice) deviceView {
	v := deviceView{d: d, vidpid: d.VendorID + ":" + d.ProductID}
	for _, it := range d.Interfaces {
		switch strings.ToLower(it.Class) {
		case "03":
			t, ok := ev.interfaceTraits(it)
			if !ok {
				v.undecodable = append(v.undecodable, it.Number)
			}
			if t.Keyboard {
				v.keyboards = append(v.keyboards, it.Number)
			}
			for _, p := range t.Pointers {
				if p.kvmLike() && (v.pointer == nil || isKVMRange(p) && !isKVMRange(*v.pointer)) {
					v.pointer, v.pointerIf = &p, it.Number
				}
			}
		case "08":
			v.storage = true
		case "02":
			switch strings.ToLower(it.SubClass) {
			case "06", "0c", "0d": // ECM, EEM, NCM
				v.network = true
			}
		case "e0":
			if it.SubClass == "01" && it.Protocol == "03" { // RNDIS
				v.network = true
			}
		case "ef":
			if it.SubClass == "04" && it.Protocol == "01" { // RNDIS over IAD
				v.network = true
			}
		}
	}
	return v
}

// interfaceTraits sums up a HID interface from its report descriptor,
// else from the collections the OS reported, else from the boot
// interface class. ok is false when a descriptor was there but did not
// parse.
func (ev *evaluation) interfaceTraits(it Interface) (HIDTraits, bool) {
	if it.HIDReportDescriptor != "" {
		var ok bool
		if ev.scratch, ok = appendHex(ev.scratch[:0], it.HIDReportDescriptor); ok {
			if rd, err := ParseHIDReportDescriptor(ev.scratch); err == nil {
				return rd.Traits(), true
			}
		}
		return bootTraits(it), false
	}
	if len(it.HIDCollections) > 0 {
		return traitsFromCollections(it.HIDCollections), true
	}
	return bootTraits(it), true
}

// appendHex appends the bytes of the hex string s to dst, without the
// copy of s that hex.AppendDecode would need.
func appendHex(dst []byte, s string) ([]byte, bool) {
	if len(s)%2 != 0 {
		return dst, false
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := fromHexChar(s[i])
		lo, ok2 := fromHexChar(s[i+1])
		if !ok1 || !ok2 {
			return dst, false
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, true
}

func fromHexChar(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// bootTraits reads the boot protocol of a HID interface: subclass 1
// protocol 1 is a keyboard. Boot mice are relative, so they add nothing.
func bootTraits(it Interface) HIDTraits {
	return HIDTraits{Keyboard: it.SubClass == "01" && it.Protocol == "01"}
}

func isKVMRange(p Pointer) bool {
	return p.XMin == 0 && p.XMax == kvmAbsMax && p.YMin == 0 && p.YMax == kvmAbsMax
}

func (ev *evaluation) usbDevice(d *USBDevice) {
	v := ev.viewDevice(d)
	family := ev.usbIdentity(&v)
	ev.usbPreset(&v)
	ev.composite(&v)
	if family == nil && isLinuxGadget(d) {
		ev.linuxGadget(&v)
	}
}

// evidence is the normalised identity of the device, the part of the
// evidence the collector correlates across laptops, and the HID
// interfaces whose report descriptor did not parse.
func (v *deviceView) evidence() map[string]any {
	d := v.d
	ev := map[string]any{
		"usb_vendor_id":  d.VendorID,
		"usb_product_id": d.ProductID,
		"usb_serial":     strings.ToUpper(strings.TrimSpace(d.Serial)),
		"usb_location":   d.Location,
	}
	if d.Manufacturer != "" {
		ev["usb_manufacturer"] = d.Manufacturer
	}
	if d.Product != "" {
		ev["usb_product"] = d.Product
	}
	if d.BCDDevice != "" {
		ev["usb_bcd_device"] = d.BCDDevice
	}
	if d.InstanceID != "" {
		ev["usb_instance_id"] = d.InstanceID
	}
	if len(v.undecodable) > 0 {
		ev["unparsed_report_descriptors"] = v.undecodable
	}
	return ev
}

// usbSubject names a device for finding ids: the same device on the same
// laptop keeps its finding id across scans.
func usbSubject(d *USBDevice) []string {
	s := []string{d.VendorID, d.ProductID, strings.ToUpper(strings.TrimSpace(d.Serial))}
	if strings.TrimSpace(d.Serial) == "" {
		s = append(s, d.Location)
	}
	return s
}

// describeUSB is how summaries name a device: 1d6b:0104 "PiKVM" "PiKVM
// Composite Device" (serial CAFEBABE) at 3-2.
func describeUSB(d *USBDevice) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s", d.VendorID, d.ProductID)
	if d.Manufacturer != "" {
		fmt.Fprintf(&b, " %q", d.Manufacturer)
	}
	if d.Product != "" {
		fmt.Fprintf(&b, " %q", d.Product)
	}
	if d.Serial != "" {
		fmt.Fprintf(&b, " (serial %s)", d.Serial)
	}
	if d.Location != "" {
		fmt.Fprintf(&b, " at %s", d.Location)
	}
	return b.String()
}

// deviceKey is a device's identity, trimmed and lower-cased once for
// matching against the (lower-cased) catalogue.
type deviceKey struct{ vid, vidpid, manufacturer, product, serial string }

func keyOf(d *USBDevice) deviceKey {
	norm := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	return deviceKey{
		vid:          norm(d.VendorID),
		vidpid:       norm(d.VendorID) + ":" + norm(d.ProductID),
		manufacturer: norm(d.Manufacturer),
		product:      norm(d.Product),
		serial:       norm(d.Serial),
	}
}

// has reports whether the lower-cased list holds the non-empty value v.
func has(list []string, v string) bool {
	return v != "" && slices.Contains(list, v)
}

// score scores a device against a family: 2 per strong value, 1 per weak
// value, and lists what matched.
func (f *usbFamily) score(k *deviceKey) (score, strong int, matched []string) {
	hit := func(field string, isStrong bool) {
		matched = append(matched, field)
		if isStrong {
			score, strong = score+2, strong+1
		} else {
			score++
		}
	}
	switch {
	case has(f.vendors, k.vid):
		hit("vendor_id", true)
	case has(f.vidpids, k.vidpid):
		hit("vendor_id:product_id", true)
	case has(f.weakVIDPIDs, k.vidpid):
		hit("vendor_id:product_id", false)
	}
	switch {
	case has(f.manufacturers, k.manufacturer):
		hit("manufacturer", true)
	case has(f.weakManufacturers, k.manufacturer):
		hit("manufacturer", false)
	}
	switch {
	case has(f.products, k.product):
		hit("product", true)
	case has(f.weakProducts, k.product):
		hit("product", false)
	}
	switch {
	case has(f.serials, k.serial):
		hit("serial", true)
	case has(f.weakSerials, k.serial):
		hit("serial", false)
	}
	return score, strong, matched
}

// usbIdentity emits kvm.<family>_usb_identity for the best-scoring
// family: one strong value, or two weak ones together.
func (ev *evaluation) usbIdentity(v *deviceView) *usbFamily {
	var (
		best                  *usbFamily
		bestScore, bestStrong int
		bestMatched           []string
	)
	k := keyOf(v.d)
	for i := range usbFamilies {
		f := &usbFamilies[i]
		score, strong, matched := f.score(&k)
		if strong == 0 && score < 2 {
			continue
		}
		if score > bestScore {
			best, bestScore, bestStrong, bestMatched = f, score, strong, matched
		}
	}
	if best == nil {
		return nil
	}
	sev, conf := detectors.SeverityHigh, min(0.55+0.1*float64(bestScore), 0.97)
	if bestStrong == 0 {
		sev, conf = detectors.SeverityMedium, 0.6
	}
	sev = min(sev, best.ceiling)
	evidence := v.evidence()
	evidence["family"] = best.id
	evidence["matched"] = bestMatched
	evidence["source"] = best.source
	ev.add(detectors.Finding{
		ID:         detectors.FindingID(usbIdentityRule(best.id), usbSubject(v.d)...),
		Rule:       usbIdentityRule(best.id),
		Severity:   sev,
		Confidence: conf,
		Title:      best.name + " attached over USB",
		Summary: strings.TrimSpace(fmt.Sprintf("USB device %s matches the default USB identity of %s (matched %s). %s",
			describeUSB(v.d), best.name, strings.Join(bestMatched, ", "), best.also)),
		Rationale:   rationaleKVM,
		Remediation: remediationKVM,
		Evidence:    evidence,
	}, &ev.usbSide)
	return best
}

// usbPreset emits kvm.spoof_preset_usb for the identities KVMs offer to
// pass as an ordinary keyboard, and for serials shaped like a Windows
// instance id.
func (ev *evaluation) usbPreset(v *deviceView) {
	var (
		matched []string
		sev     = detectors.SeverityInfo
		conf    float64
		kvms    []string
	)
	for _, p := range usbPresets {
		if !strings.EqualFold(v.vidpid, p.vidpid) || !strings.EqualFold(strings.TrimSpace(v.d.Manufacturer), p.manufacturer) ||
			!strings.EqualFold(strings.TrimSpace(v.d.Product), p.product) {
			continue
		}
		matched = append(matched, fmt.Sprintf("%s preset %s %q %q", p.kvm, p.vidpid, p.manufacturer, p.product))
		kvms = append(kvms, p.kvm)
		switch {
		case !p.genuine:
			sev, conf = detectors.SeverityHigh, 0.9
		case v.pointer != nil:
			matched = append(matched, "absolute pointer the genuine keyboard lacks")
			sev, conf = detectors.SeverityHigh, 0.8
		default:
			sev, conf = max(sev, detectors.SeverityMedium), max(conf, 0.45)
		}
	}
	if instanceIDSerial.MatchString(strings.TrimSpace(v.d.Serial)) {
		matched = append(matched, fmt.Sprintf("serial %q shaped like a Windows device instance id", v.d.Serial))
		kvms = append(kvms, "JetKVM")
		sev, conf = detectors.SeverityHigh, max(conf, 0.85)
	}
	if len(matched) == 0 {
		return
	}
	evidence := v.evidence()
	evidence["matched"] = matched
	ev.add(detectors.Finding{
		ID:         detectors.FindingID(RuleSpoofUSB, usbSubject(v.d)...),
		Rule:       RuleSpoofUSB,
		Severity:   sev,
		Confidence: conf,
		Title:      "USB identity matches an IP-KVM spoofing preset",
		Summary: fmt.Sprintf("USB device %s presents an identity that %s offers to disguise its keyboard and mouse: %s.",
			describeUSB(v.d), strings.Join(dedupe(kvms), " and "), strings.Join(matched, "; ")),
		Rationale: "IP-KVMs let their owner copy the USB identity of a common keyboard so that device inventories show nothing unusual. " +
			"The presets are fixed strings (and JetKVM generates serials that imitate Windows instance ids), so the disguise itself is recognisable. " + rationaleKVM,
		Remediation: remediationKVM,
		Evidence:    evidence,
	}, &ev.usbSide)
}

// composite emits kvm.absolute_pointer_keyboard_composite for a device
// that is a keyboard and an absolute pointer at once.
func (ev *evaluation) composite(v *deviceView) {
	if len(v.keyboards) == 0 || v.pointer == nil {
		return
	}
	p := v.pointer
	sev, conf := detectors.SeverityMedium, 0.65
	var extras []string
	if isKVMRange(*p) {
		sev, conf = detectors.SeverityHigh, conf+0.2
		extras = append(extras, "the 0..32767 coordinate range of open-source IP-KVM firmware")
	}
	if v.storage {
		sev, conf = detectors.SeverityHigh, conf+0.05
		extras = append(extras, "a mass-storage drive (KVM virtual media)")
	}
	if v.network {
		sev, conf = detectors.SeverityHigh, conf+0.05
		extras = append(extras, "a USB network adapter (KVM USB Ethernet)")
	}
	conf = min(conf, 0.95)
	evidence := v.evidence()
	evidence["keyboard_interfaces"] = v.keyboards
	evidence["pointer_interface"] = v.pointerIf
	evidence["pointer_kind"] = string(p.Kind)
	evidence["pointer_x_logical"] = []int64{p.XMin, p.XMax}
	evidence["pointer_y_logical"] = []int64{p.YMin, p.YMax}
	evidence["mass_storage"] = v.storage
	evidence["network"] = v.network
	summary := fmt.Sprintf("USB device %s is at once a keyboard (interface %s) and an absolute %s with X %d..%d and Y %d..%d (interface %d)",
		describeUSB(v.d), joinInts(v.keyboards), p.Kind, p.XMin, p.XMax, p.YMin, p.YMax, v.pointerIf)
	if len(extras) > 0 {
		summary += ", with " + strings.Join(extras, " and ")
	}
	summary += ". That is the USB gadget an IP-KVM presents, whatever identity it claims."
	ev.add(detectors.Finding{
		ID:         detectors.FindingID(RuleComposite, usbSubject(v.d)...),
		Rule:       RuleComposite,
		Severity:   sev,
		Confidence: conf,
		Title:      "Keyboard and absolute pointer on one USB device (IP-KVM structure)",
		Summary:    summary,
		Rationale: "IP-KVMs type and point for a remote operator through one USB gadget with a keyboard and an absolute-position mouse, because a remote viewer clicks on coordinates, not on movements. " +
			"Spoofing tools change the IDs and strings, not this structure. Keyboards with touchpads, pen tablets and wireless receivers (whose mice are relative) do not have it. " + rationaleKVM,
		Remediation: remediationKVM,
		Evidence:    evidence,
	}, &ev.usbSide)
}

// Root hubs of Linux and of the Linux Foundation vendor id: not gadgets.
var linuxRootHubs = map[string]bool{"0001": true, "0002": true, "0003": true}

func isLinuxGadget(d *USBDevice) bool {
	return strings.EqualFold(d.VendorID, "1d6b") && !linuxRootHubs[strings.ToLower(d.ProductID)] && d.DeviceClass != "09"
}

func (ev *evaluation) linuxGadget(v *deviceView) {
	evidence := v.evidence()
	ev.add(detectors.Finding{
		ID:         detectors.FindingID(RuleLinuxGadget, usbSubject(v.d)...),
		Rule:       RuleLinuxGadget,
		Severity:   detectors.SeverityMedium,
		Confidence: 0.6,
		Title:      "Linux USB gadget attached",
		Summary: fmt.Sprintf("USB device %s uses the Linux Foundation vendor id 1d6b, which outside root hubs means a computer running Linux is posing as a USB device to this laptop.",
			describeUSB(v.d)),
		Rationale: "Every open-source IP-KVM (PiKVM, TinyPilot, JetKVM, GL.iNet Comet, DIY Raspberry Pi builds) is a Linux board using the kernel's USB gadget framework, which defaults to the 1d6b vendor id. " +
			"A laptop has no ordinary reason to host one. " + rationaleKVM,
		Remediation: remediationKVM,
		Evidence:    evidence,
	}, &ev.usbSide)
}

// displayEvidence is the normalised identity of an EDID.
func displayEvidence(disp *Display, e *EDID) map[string]any {
	ev := map[string]any{
		"display_name":        disp.Name,
		"display_internal":    disp.Internal,
		"edid_manufacturer":   e.Manufacturer,
		"edid_product_code":   fmt.Sprintf("%04x", e.ProductCode),
		"edid_serial_number":  fmt.Sprintf("%08x", e.SerialNumber),
		"edid_serial":         e.serialLabel(),
		"edid_fingerprint":    e.Fingerprint,
		"edid_checksum_valid": e.ChecksumValid,
		"edid_manufactured":   fmt.Sprintf("%d-W%02d", e.Year, e.Week),
		"edid_preferred_mode": fmt.Sprintf("%dx%d", e.PreferredWidth, e.PreferredHeight),
		"edid_monitor_name":   e.MonitorName,
	}
	return ev
}

func describeEDID(disp *Display, e *EDID) string {
	s := fmt.Sprintf("display %s presents EDID %s %04x", disp.Name, e.Manufacturer, e.ProductCode)
	if e.MonitorName != "" {
		s += fmt.Sprintf(" %q", e.MonitorName)
	}
	if l := e.serialLabel(); l != "" {
		s += " serial " + l
	}
	return s
}

func (ev *evaluation) display(disp *Display) {
	if disp.EDID == "" {
		return
	}
	raw, err := hex.DecodeString(disp.EDID)
	if err != nil {
		return
	}
	e, err := ParseEDID(raw)
	if err != nil {
		return
	}
	if ev.pol.allowsEDID(e.Fingerprint) {
		return
	}
	ev.edidSignature(disp, e)
	ev.edidPreset(disp, e)
}

// score scores an EDID against a signature and lists what matched.
func (s *edidSignature) score(e *EDID) (score int, matched []string) {
	if s.manufacturer != "" && e.Manufacturer == s.manufacturer {
		switch {
		case s.anyProduct:
			score += 2
			matched = append(matched, "manufacturer")
		case containsCode(s.productCodes, e.ProductCode):
			score++
			matched = append(matched, "manufacturer+product_code")
			for _, n := range s.serialNumbers {
				if e.SerialNumber == n {
					score++
					matched = append(matched, "serial_number")
				}
			}
		}
	}
	switch {
	case eqFold(s.names, e.MonitorName), prefixFold(s.namePrefixes, e.MonitorName):
		score += 2
		matched = append(matched, "monitor_name")
	case eqFold(s.genericNames, e.MonitorName):
		score++
		matched = append(matched, "monitor_name")
	}
	if eqFold(s.serialStrings, e.MonitorSerial) {
		score += 2
		matched = append(matched, "monitor_serial")
	}
	return score, matched
}

func containsCode(codes []uint16, c uint16) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// edidSignature emits kvm.<family>_edid or kvm.capture_edid for the
// best-scoring signature.
func (ev *evaluation) edidSignature(disp *Display, e *EDID) {
	var (
		best        *edidSignature
		bestScore   int
		bestMatched []string
	)
	for i := range edidSignatures {
		s := &edidSignatures[i]
		score, matched := s.score(e)
		if score >= s.minScore && score > bestScore {
			best, bestScore, bestMatched = s, score, matched
		}
	}
	if best == nil {
		return
	}
	evidence := displayEvidence(disp, e)
	evidence["family"] = best.id
	evidence["matched"] = bestMatched
	evidence["source"] = best.source
	var f detectors.Finding
	if best.capture {
		conf := 0.6
		if bestScore >= 3 {
			conf = 0.75
		}
		f = detectors.Finding{
			ID:         detectors.FindingID(RuleCaptureEDID, e.Fingerprint),
			Rule:       RuleCaptureEDID,
			Severity:   detectors.SeverityMedium,
			Confidence: conf,
			Title:      "HDMI capture device connected as a monitor",
			Summary: fmt.Sprintf("The %s, the EDID of a %s (matched %s). The laptop's picture goes into a capture device, not a screen.",
				describeEDID(disp, e), best.name, strings.Join(bestMatched, ", ")),
			Rationale: "A capture stick on a laptop's video output feeds its screen to another computer. Home-made KVMs pair one with a USB keyboard/mouse emulator to operate a laptop remotely; " +
				"streaming and lab set-ups use them too, so this is a strong hint rather than proof. " + rationaleKVM,
			Remediation: remediationKVM,
			Evidence:    evidence,
		}
	} else {
		sev, conf := detectors.SeverityHigh, min(0.75+0.05*float64(bestScore), 0.95)
		if bestScore < 2 {
			sev, conf = detectors.SeverityMedium, 0.6
		}
		f = detectors.Finding{
			ID:         detectors.FindingID(edidRule(best.id), e.Fingerprint),
			Rule:       edidRule(best.id),
			Severity:   sev,
			Confidence: conf,
			Title:      best.name + " EDID on a display output",
			Summary: strings.TrimSpace(fmt.Sprintf("The %s, the default EDID of the %s (matched %s). The laptop's video output feeds an IP-KVM. %s",
				describeEDID(disp, e), best.name, strings.Join(bestMatched, ", "), best.also)),
			Rationale:   rationaleKVM,
			Remediation: remediationKVM,
			Evidence:    evidence,
		}
	}
	ev.add(f, &ev.displaySide)
}

// edidPreset emits kvm.spoof_preset_edid for a KVM's copy of a real
// monitor's EDID, recognised by the copied monitor's serial string.
func (ev *evaluation) edidPreset(disp *Display, e *EDID) {
	for _, p := range edidPresets {
		if e.Manufacturer != p.manufacturer || e.ProductCode != p.productCode || !strings.EqualFold(e.MonitorSerial, p.serial) {
			continue
		}
		evidence := displayEvidence(disp, e)
		evidence["preset"] = p.model
		evidence["matched"] = []string{"manufacturer+product_code", "monitor_serial"}
		evidence["source"] = p.source
		ev.add(detectors.Finding{
			ID:         detectors.FindingID(RuleSpoofEDID, e.Fingerprint),
			Rule:       RuleSpoofEDID,
			Severity:   detectors.SeverityHigh,
			Confidence: 0.85,
			Title:      "Display EDID matches an IP-KVM spoofing preset",
			Summary: fmt.Sprintf("The %s, identical in model and serial string (%s) to the %s EDID that %s ships as a preset to pass its capture input off as a real monitor.",
				describeEDID(disp, e), p.serial, p.model, p.kvm),
			Rationale: "IP-KVMs offer copies of real monitors' EDIDs so that the laptop believes a normal monitor is attached. The copies keep the original monitor's serial, " +
				"so the same serial on a laptop (or on many laptops) points to the KVM. " + rationaleKVM,
			Remediation: remediationKVM,
			Evidence:    evidence,
		}, &ev.displaySide)
		return
	}
}

// corroborate emits kvm.usb_and_display_corroborated when both sides of
// a KVM show: its USB gadget and its capture input.
func (ev *evaluation) corroborate() {
	if len(ev.usbSide) == 0 || len(ev.displaySide) == 0 {
		return
	}
	var usbRules, displayRules, usbDevices, displays, edids, subject []string
	for _, i := range ev.usbSide {
		f := &ev.findings[i]
		usbRules = append(usbRules, f.Rule)
		dev := fmt.Sprintf("%s:%s", f.Evidence["usb_vendor_id"], f.Evidence["usb_product_id"])
		if p, ok := f.Evidence["usb_product"].(string); ok {
			dev += fmt.Sprintf(" %q", p)
		}
		usbDevices = append(usbDevices, fmt.Sprintf("%s at %s", dev, f.Evidence["usb_location"]))
		subject = append(subject, f.ID)
	}
	for _, i := range ev.displaySide {
		f := &ev.findings[i]
		displayRules = append(displayRules, f.Rule)
		displays = append(displays, fmt.Sprintf("%s showing %s %s %q", f.Evidence["display_name"],
			f.Evidence["edid_manufacturer"], f.Evidence["edid_product_code"], f.Evidence["edid_monitor_name"]))
		edids = append(edids, f.Evidence["edid_fingerprint"].(string))
		subject = append(subject, f.ID)
	}
	usbRules, displayRules = dedupe(usbRules), dedupe(displayRules)
	usbDevices, displays, edids, subject = dedupe(usbDevices), dedupe(displays), dedupe(edids), dedupe(subject)
	sort.Strings(subject)
	ev.add(detectors.Finding{
		ID:         detectors.FindingID(RuleCorroborated, subject...),
		Rule:       RuleCorroborated,
		Severity:   detectors.SeverityCritical,
		Confidence: 0.97,
		Title:      "IP-KVM seen on both USB and display",
		Summary: fmt.Sprintf("The laptop shows both halves of a KVM: on USB, %s (%s); on its video output, %s (%s).",
			strings.Join(usbDevices, ", "), strings.Join(usbRules, ", "), strings.Join(displays, ", "), strings.Join(displayRules, ", ")),
		Rationale: "A keyboard/mouse emulator and a capture input together are a complete remote-control set-up; each alone has rarer innocent explanations, both at once have hardly any. " +
			rationaleKVM,
		Remediation: remediationKVM,
		Evidence: map[string]any{
			"usb_rules":         usbRules,
			"display_rules":     displayRules,
			"usb_devices":       usbDevices,
			"displays":          displays,
			"edid_fingerprints": edids,
		},
	}, nil)
}

// dedupe keeps the first of each value, in order.
func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

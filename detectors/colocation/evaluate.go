package colocation

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Rules of the colocation detector.
const (
	// RulePeers: at least peer_threshold other company laptops heard on
	// this LAN within the peer window.
	RulePeers = "colocation.peers"
	// RuleKVMAppliance: a KVM appliance on the LAN (by mDNS name or by a
	// KVM vendor's MAC block); raised to high by the engine when the kvm
	// detector finds a KVM on USB or EDID in the same scan.
	RuleKVMAppliance = "colocation.kvm_appliance"
)

// Rules lists the detector's rule ids, sorted.
func Rules() []string { return []string{RuleKVMAppliance, RulePeers} }

// kvmDetector is the detector whose findings corroborate a KVM appliance
// on the LAN: a KVM plugged into this laptop (USB, EDID).
const kvmDetector = "kvm"

const (
	rationalePeers = "A laptop farm keeps many company laptops on one home network. Corporate laptops rarely share a LAN outside an office; " +
		"several of them announcing themselves next to this one (beacons authenticated with the fleet key, so they are genuinely enrolled devices) is the farm's signature."
	remediationPeers = "Compare the devices' owners and registered locations in the collector (devices show); if this LAN is not an office, contact the owners and recover the laptops."
	rationaleKVM     = "An IP-KVM on the laptop's LAN is how laptop-farm facilitators let someone abroad drive the laptop's keyboard, mouse and screen without installing software on it."
	remediationKVM   = "Check whether the laptop's screen and USB ports are connected to the appliance (the kvm detector's findings on this device say so); ask the owner to explain the device or recover the laptop."
)

// evaluate is the pure evaluation of an observation.
func evaluate(o *Observation, p *Policy) []detectors.Finding {
	var out []detectors.Finding
	if !p.disabled(RulePeers) {
		if f, ok := evaluatePeers(o, p); ok {
			out = append(out, f)
		}
	}
	if !p.disabled(RuleKVMAppliance) {
		out = append(out, evaluateKVM(o, p)...)
	}
	return out
}

func evaluatePeers(o *Observation, p *Policy) (detectors.Finding, bool) {
	var heard []map[string]any
	var ids []string
	for _, peer := range o.Beacon.Peers {
		age := o.CollectedAt.Sub(peer.LastHeard)
		if age > p.PeerWindow || age < -p.MaxSkew || slices.Contains(ids, peer.DeviceID) {
			continue
		}
		ids = append(ids, peer.DeviceID)
		heard = append(heard, map[string]any{
			"device_id": peer.DeviceID, "via": peer.Vias, "addr": peer.Addr,
			"first_heard": peer.FirstHeard.UTC(), "last_heard": peer.LastHeard.UTC(),
		})
	}
	if len(ids) < p.PeerThreshold {
		return detectors.Finding{}, false
	}
	return detectors.Finding{
		ID:         detectors.FindingID(RulePeers),
		Rule:       RulePeers,
		Severity:   detectors.SeverityHigh,
		Confidence: 0.9,
		Title:      "Many company laptops on this laptop's LAN",
		Summary: fmt.Sprintf("%d other enrolled laptops were heard on this laptop's LAN within %s (threshold %d): %s.",
			len(ids), p.PeerWindow, p.PeerThreshold, strings.Join(ids, ", ")),
		Rationale:   rationalePeers,
		Remediation: remediationPeers,
		Evidence: map[string]any{
			"peers": heard, "peer_count": len(ids), "threshold": p.PeerThreshold, "window": p.PeerWindow.String(),
		},
	}, true
}

// appliance gathers what points at one KVM appliance.
type appliance struct {
	key       string
	vendor    string
	addr      string
	names     []string
	services  []string
	macPrefix string
	macVendor string
	seenBy    []string
	strongMAC bool
}

func (a *appliance) add(seenBy string) {
	if !slices.Contains(a.seenBy, seenBy) {
		a.seenBy = append(a.seenBy, seenBy)
	}
}

func evaluateKVM(o *Observation, p *Policy) []detectors.Finding {
	byKey := map[string]*appliance{}
	get := func(key, vendor string) *appliance {
		a := byKey[key]
		if a == nil {
			a = &appliance{key: key, vendor: vendor}
			byKey[key] = a
		}
		if a.vendor == "" {
			a.vendor = vendor
		}
		return a
	}
	hostAddrs := map[string][]string{}
	for _, h := range o.MDNS.Hosts {
		hostAddrs[h.Name] = h.Addrs
	}
	for _, h := range o.MDNS.Hosts {
		if h.KVM == "" {
			continue
		}
		for _, key := range applianceKeys(h.Addrs, h.From, h.Name) {
			a := get(key, h.KVM)
			a.addr = addrOf(key)
			a.names = appendNew(a.names, h.Name)
			a.add("mdns")
		}
	}
	for _, s := range o.MDNS.Services {
		if s.KVM == "" {
			continue
		}
		for _, key := range applianceKeys(hostAddrs[s.Host], s.From, s.Host) {
			a := get(key, s.KVM)
			a.addr = addrOf(key)
			a.services = appendNew(a.services, s.Instance)
			if s.Host != "" {
				a.names = appendNew(a.names, s.Host)
			}
			a.add("dns-sd")
		}
	}
	for _, n := range o.Neighbours {
		if n.KVM == nil || !n.IP.Is4() {
			continue
		}
		key := n.IP.String()
		a, known := byKey[key]
		if n.KVM.Weak && !known {
			continue // a Raspberry Pi or a router alone is no KVM
		}
		if !known {
			a = get(key, n.KVM.Vendor)
			a.addr = key
		}
		a.macPrefix, a.macVendor = n.KVM.Prefix, n.KVM.Vendor
		a.strongMAC = a.strongMAC || !n.KVM.Weak
		if n.Source == "sweep" {
			a.add("arp_sweep")
		} else {
			a.add("neighbour_table")
		}
	}
	for _, i := range o.Interfaces {
		if i.KVM == nil || i.KVM.Weak {
			continue
		}
		a := get("interface:"+i.Name, i.KVM.Vendor)
		a.macPrefix, a.macVendor, a.strongMAC = i.KVM.Prefix, i.KVM.Vendor, true
		a.add("usb_network_interface")
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []detectors.Finding
	for _, k := range keys {
		out = append(out, kvmFinding(byKey[k]))
	}
	return out
}

func kvmFinding(a *appliance) detectors.Finding {
	named := len(a.names) > 0 || len(a.services) > 0
	conf := 0.6
	switch {
	case named && a.strongMAC:
		conf = 0.9
	case a.strongMAC:
		conf = 0.8
	case named && a.macPrefix != "":
		conf = 0.75
	case named:
		conf = 0.7
	}
	slices.Sort(a.names)
	slices.Sort(a.services)
	slices.Sort(a.seenBy)
	where := "on this laptop's LAN"
	if a.addr != "" {
		where = "at " + a.addr + " on this laptop's LAN"
	}
	if strings.HasPrefix(a.key, "interface:") {
		where = "as network interface " + strings.TrimPrefix(a.key, "interface:") + " of this laptop"
	}
	how := strings.Join(a.seenBy, ", ")
	ev := map[string]any{"vendor": a.vendor, "seen_by": a.seenBy}
	if a.addr != "" {
		ev["ip"] = a.addr
	}
	if len(a.names) > 0 {
		ev["mdns_names"] = a.names
	}
	if len(a.services) > 0 {
		ev["services"] = a.services
	}
	if a.macPrefix != "" {
		ev["mac_prefix"], ev["mac_vendor"] = a.macPrefix, a.macVendor
	}
	return detectors.Finding{
		ID:          detectors.FindingID(RuleKVMAppliance, a.vendor, a.key),
		Rule:        RuleKVMAppliance,
		Severity:    detectors.SeverityMedium,
		Confidence:  conf,
		Title:       fmt.Sprintf("KVM appliance (%s) on this laptop's LAN", a.vendor),
		Summary:     fmt.Sprintf("A %s KVM appliance %s, found by %s.", a.vendor, where, how),
		Rationale:   rationaleKVM,
		Remediation: remediationKVM,
		Evidence:    ev,
		MITRE:       []string{"T1219.003", "T1200"},
		Escalate:    &detectors.Escalation{Detector: kvmDetector, MinSeverity: detectors.SeverityMedium, To: detectors.SeverityHigh},
	}
}

// applianceKeys keys an appliance by its IPv4 addresses, else by the
// first non-empty fallback (a name, a responder address).
func applianceKeys(addrs []string, fallback ...string) []string {
	var keys []string
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			keys = append(keys, a.String())
		}
	}
	if len(keys) > 0 {
		return keys
	}
	for _, f := range fallback {
		if f != "" {
			return []string{f}
		}
	}
	return nil
}

// addrOf returns key when it is an IP address.
func addrOf(key string) string {
	if _, err := netip.ParseAddr(key); err == nil {
		return key
	}
	return ""
}

func appendNew(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

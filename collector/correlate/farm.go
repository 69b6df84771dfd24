package correlate

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Kinds of shared identifier in farm evidence.
const (
	SharedPublicIP = "public_ip"
	SharedGateway  = "gateway"
	SharedBSSID    = "bssid"
	SharedBeacon   = "beacon"
)

// FarmEvidence is the Evidence of a "farm" alert.
type FarmEvidence struct {
	// Members are the devices of the component, by device id.
	Members []FarmMember `json:"members"`
	// Shared are the identifiers that join the members, by kind and
	// value; each lists the members (two or more) that carry it.
	Shared []SharedIdentifier `json:"shared"`
	// Owners counts distinct owners; each device without an owner counts
	// as one unknown owner.
	Owners int `json:"owners"`
	// Window is Options.Window ("24h").
	Window string `json:"window"`
	// Escalation says why the farm is critical rather than high.
	Escalation []string `json:"escalation,omitempty"`
	// HighSeverityMembers are the members whose last scan had a finding
	// of severity high or critical (remote-access tools, KVMs).
	HighSeverityMembers []string `json:"high_severity_members,omitempty"`
	// MergedAlerts are the ids of other open farm alerts whose members
	// are now part of this farm (the alert keeps the key of the best
	// overlapping one).
	MergedAlerts []int64 `json:"merged_alerts,omitempty"`
}

// FarmMember is one device of a farm.
type FarmMember struct {
	DeviceID    string    `json:"device_id"`
	Hostname    string    `json:"hostname"`
	Owner       string    `json:"owner"`
	LastSeen    time.Time `json:"last_seen"`
	PublicIP    string    `json:"public_ip"`
	MaxSeverity int       `json:"max_severity"`
}

// SharedIdentifier is one network identifier carried by several members.
// Value is the IP for public_ip, the keyed hash for gateway and bssid, and
// for beacon the id of the device whose beacon the others heard (Devices
// then holds that device and those that heard it).
type SharedIdentifier struct {
	Kind    string   `json:"kind"`
	Value   string   `json:"value"`
	Devices []string `json:"devices"`
}

// farm is one component that passed the thresholds.
type farm struct {
	devs   []*store.Device // sorted by id
	shared []SharedIdentifier
	key    string
	merged []int64
}

// farms finds the connected components of the fleet graph and turns those
// over the thresholds into alerts.
func (f *fleet) farms(open []store.Alert) []store.Alert {
	uf := newUnionFind(len(f.nodes))
	// Sized for a fleet where most devices have identifiers of their own:
	// growing these maps was a third of a pass over 100,000 devices.
	ips := make(map[netip.Addr]int32, len(f.nodes))
	gateways := make(map[string]int32, len(f.nodes))
	bssids := make(map[string]int32, len(f.nodes))
	for i, d := range f.nodes {
		i := int32(i)
		if a, ok := f.publicIP(d); ok {
			joinOn(uf, ips, a, i)
		}
		if g := d.Network.GatewayHash; g != "" && !f.isOffice(g) {
			joinOn(uf, gateways, g, i)
		}
		for _, b := range d.Network.BSSIDHashes {
			if b != "" && !f.isOffice(b) {
				joinOn(uf, bssids, b, i)
			}
		}
		for _, p := range d.Network.Peers {
			if j, ok := f.peer(p); ok && j != i {
				uf.union(i, j)
			}
		}
	}

	// Group the nodes of large enough components, in node order.
	groups := make(map[int32][]int32)
	var roots []int32
	for i := range f.nodes {
		r := uf.find(int32(i))
		if int(uf.size[r]) < f.opts.MinDevices {
			continue
		}
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], int32(i))
	}

	var farms []*farm
	for _, r := range roots {
		members := groups[r]
		devs := make([]*store.Device, len(members))
		for k, i := range members {
			devs[k] = f.nodes[i]
		}
		if countOwners(devs) < f.opts.MinOwners {
			continue
		}
		sortDevices(devs)
		farms = append(farms, &farm{devs: devs, shared: f.sharedIdentifiers(members)})
	}
	// Identifiers belong to one component only, so the first one orders
	// the farms deterministically.
	slices.SortFunc(farms, func(a, b *farm) int { return strings.Compare(firstID(a), firstID(b)) })
	assignKeys(farms, open)

	alerts := make([]store.Alert, 0, len(farms))
	for _, fm := range farms {
		alerts = append(alerts, f.farmAlert(fm))
	}
	return alerts
}

// publicIP returns the device's public IP when it may join devices: a
// valid global unicast address, not private (a private "public" IP is the
// collector's own proxy or LAN, shared by everyone behind it), outside
// every office prefix. IPv4-mapped IPv6 addresses count as IPv4.
func (f *fleet) publicIP(d *store.Device) (netip.Addr, bool) {
	if d.PublicIP == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(d.PublicIP)
	if err != nil {
		ap, err := netip.ParseAddrPort(d.PublicIP)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	if !f.opts.IncludePrivateIPs && (!a.IsGlobalUnicast() || a.IsPrivate()) {
		return netip.Addr{}, false
	}
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
		return netip.Addr{}, false
	}
	for _, p := range f.opts.OfficeCIDRs {
		if p.Contains(a) {
			return netip.Addr{}, false
		}
	}
	return a, true
}

// peer returns the node of a beacon heard within the window.
func (f *fleet) peer(p store.PeerHeard) (int32, bool) {
	if !f.fresh(p.At) {
		return 0, false
	}
	return f.node(p.DeviceID)
}

// joinOn unions node i with the first node that carried key.
func joinOn[K comparable](uf *unionFind, first map[K]int32, key K, i int32) {
	if j, ok := first[key]; ok {
		uf.union(i, j)
		return
	}
	first[key] = i
}

// sharedIdentifiers lists the identifiers that two or more of the
// members carry: exactly the edges the union-find followed.
func (f *fleet) sharedIdentifiers(members []int32) []SharedIdentifier {
	type idKey struct{ kind, value string }
	acc := make(map[idKey][]string)
	add := func(kind, value, id string) {
		k := idKey{kind, value}
		acc[k] = append(acc[k], id)
	}
	for _, i := range members {
		d := f.nodes[i]
		if a, ok := f.publicIP(d); ok {
			add(SharedPublicIP, a.String(), d.ID)
		}
		if g := d.Network.GatewayHash; g != "" && !f.isOffice(g) {
			add(SharedGateway, g, d.ID)
		}
		for _, b := range d.Network.BSSIDHashes {
			if b != "" && !f.isOffice(b) {
				add(SharedBSSID, b, d.ID)
			}
		}
		for _, p := range d.Network.Peers {
			if j, ok := f.peer(p); ok && j != i {
				heard := f.nodes[j].ID
				add(SharedBeacon, heard, heard)
				add(SharedBeacon, heard, d.ID)
			}
		}
	}
	shared := make([]SharedIdentifier, 0, len(acc))
	for k, ids := range acc {
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) < 2 {
			continue
		}
		shared = append(shared, SharedIdentifier{Kind: k.kind, Value: k.value, Devices: ids})
	}
	slices.SortFunc(shared, func(a, b SharedIdentifier) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Value, b.Value))
	})
	return shared
}

// firstID is the smallest "kind:value" of the farm's shared identifiers
// (Shared is sorted by kind then value, which is the same order).
func firstID(fm *farm) string {
	if len(fm.shared) == 0 {
		return "device:" + fm.devs[0].ID // unreachable: a component has an edge
	}
	return fm.shared[0].Kind + ":" + fm.shared[0].Value
}

// assignKeys gives each farm the key of the open farm alert that overlaps
// it most (ties: lowest id), each open alert going to one farm at most, and
// otherwise "farm:" + its smallest "kind:value" identifier not already
// taken in this pass. Open alerts that overlap a farm but went to no farm
// are recorded as merged into it.
func assignKeys(farms []*farm, open []store.Alert) {
	comp := make(map[string]int)
	for c, fm := range farms {
		for _, d := range fm.devs {
			comp[d.ID] = c
		}
	}
	type pair struct {
		comp, alert, overlap int
	}
	var (
		alerts []store.Alert
		pairs  []pair
	)
	for _, a := range open {
		if !isOpen(a, KindFarm) || a.Key == "" {
			continue
		}
		members := slices.Clone(a.Members)
		slices.Sort(members)
		counts := make(map[int]int)
		for _, m := range slices.Compact(members) {
			if c, ok := comp[m]; ok {
				counts[c]++
			}
		}
		for c, n := range counts {
			pairs = append(pairs, pair{comp: c, alert: len(alerts), overlap: n})
		}
		if len(counts) > 0 {
			alerts = append(alerts, a)
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(
			cmp.Compare(b.overlap, a.overlap),
			cmp.Compare(alerts[a.alert].ID, alerts[b.alert].ID),
			cmp.Compare(a.comp, b.comp),
		)
	})
	used := make(map[string]bool)
	taken := make([]bool, len(alerts))
	for _, p := range pairs {
		fm, a := farms[p.comp], alerts[p.alert]
		if fm.key != "" || taken[p.alert] || used[a.Key] {
			continue
		}
		fm.key, taken[p.alert], used[a.Key] = a.Key, true, true
	}
	for _, p := range pairs {
		fm, a := farms[p.comp], alerts[p.alert]
		if !taken[p.alert] && fm.key != a.Key {
			fm.merged = append(fm.merged, a.ID)
		}
	}
	for _, fm := range farms {
		slices.Sort(fm.merged)
		fm.merged = slices.Compact(fm.merged)
		if fm.key != "" {
			continue
		}
		for _, s := range fm.shared {
			if k := "farm:" + s.Kind + ":" + s.Value; !used[k] {
				fm.key = k
				break
			}
		}
		if fm.key == "" {
			fm.key = "farm:" + firstID(fm) + "#" + fm.devs[0].ID
		}
		used[fm.key] = true
	}
}

func (f *fleet) farmAlert(fm *farm) store.Alert {
	ev := FarmEvidence{
		Members: make([]FarmMember, len(fm.devs)),
		Shared:  fm.shared,
		Owners:  countOwners(fm.devs),
		Window:  fmtDuration(f.opts.Window),
	}
	ids := make([]string, len(fm.devs))
	for k, d := range fm.devs {
		ids[k] = d.ID
		ev.Members[k] = FarmMember{
			DeviceID:    d.ID,
			Hostname:    d.Hostname,
			Owner:       d.Owner,
			LastSeen:    d.LastSeen.UTC(),
			PublicIP:    d.PublicIP,
			MaxSeverity: d.MaxSeverity,
		}
		if d.MaxSeverity >= severityHigh {
			ev.HighSeverityMembers = append(ev.HighSeverityMembers, d.ID)
		}
	}
	severity := severityHigh
	if n := len(fm.devs); n >= f.opts.CriticalDevices {
		severity = severityCritical
		ev.Escalation = append(ev.Escalation,
			fmt.Sprintf("%s on one network (critical at %d or more)", plural(n, "device"), f.opts.CriticalDevices))
	}
	if n := len(ev.HighSeverityMembers); n > 0 {
		severity = severityCritical
		ev.Escalation = append(ev.Escalation,
			fmt.Sprintf("%s with high-severity findings (remote-access tool or KVM): %s",
				plural(n, "member"), strings.Join(ev.HighSeverityMembers, ", ")))
	}
	ev.MergedAlerts = fm.merged
	return store.Alert{
		Key:       fm.key,
		Kind:      KindFarm,
		Severity:  severity,
		Title:     fmt.Sprintf("Suspected laptop farm: %s of %s on one network", plural(len(fm.devs), "device"), plural(ev.Owners, "owner")),
		Summary:   f.farmSummary(fm, ev),
		Members:   ids,
		Evidence:  mustJSON(ev),
		FirstSeen: f.now,
		LastSeen:  f.now,
	}
}

// maxPhrases caps the identifiers spelled out in a summary.
const maxPhrases = 6

func (f *fleet) farmSummary(fm *farm, ev FarmEvidence) string {
	// Strongest identifiers first: one connection, one router, one access
	// point; beacons are summed up in one phrase.
	var phrases, beaconDevs []string
	var beacons []SharedIdentifier
	for _, kind := range []string{SharedPublicIP, SharedGateway, SharedBSSID, SharedBeacon} {
		for _, s := range fm.shared {
			if s.Kind != kind {
				continue
			}
			n := plural(len(s.Devices), "device")
			switch kind {
			case SharedPublicIP:
				phrases = append(phrases, fmt.Sprintf("public IP %s (%s)", s.Value, n))
			case SharedGateway:
				phrases = append(phrases, fmt.Sprintf("the same default gateway, hash %s (%s)", abbrev(s.Value), n))
			case SharedBSSID:
				phrases = append(phrases, fmt.Sprintf("the same Wi-Fi access point, BSSID hash %s (%s)", abbrev(s.Value), n))
			case SharedBeacon:
				beacons = append(beacons, s)
				beaconDevs = append(beaconDevs, s.Devices...)
			}
		}
	}
	if len(phrases) > maxPhrases {
		phrases = append(phrases[:maxPhrases], fmt.Sprintf("and %d more", len(phrases)-maxPhrases))
	}
	switch len(beacons) {
	case 0:
	case 1:
		heard := beacons[0].Value
		if i, ok := f.node(heard); ok {
			heard = name(f.nodes[i])
		}
		phrases = append(phrases, fmt.Sprintf("the LAN beacon of %s, heard by %s",
			heard, plural(len(beacons[0].Devices)-1, "device")))
	default:
		slices.Sort(beaconDevs)
		phrases = append(phrases, fmt.Sprintf("LAN beacons heard among %s",
			plural(len(slices.Compact(beaconDevs)), "device")))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%s of %s were seen on one network in the last %s. Shared: %s.",
		plural(len(fm.devs), "device"), plural(ev.Owners, "owner"), ev.Window, strings.Join(phrases, "; "))
	if len(ev.Escalation) > 0 {
		b.WriteString(" Critical: " + strings.Join(ev.Escalation, "; ") + ".")
	}
	if len(ev.MergedAlerts) > 0 {
		fmt.Fprintf(&b, " Joins %s.", plural(len(ev.MergedAlerts), "other open farm alert"))
	}
	return b.String()
}

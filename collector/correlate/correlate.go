package correlate

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Alert kinds produced here.
const (
	KindFarm      = "farm"
	KindKVMShared = "kvm_shared"
	KindSilent    = "silent"
)

// Alert severities (the finding scale: 0 info … 4 critical).
const (
	severityMedium   = 2
	severityHigh     = 3
	severityCritical = 4
)

// kindStopping is the report kind an agent sends when its service is
// stopped on purpose (transport.KindStopping).
const kindStopping = "stopping"

// Result is the outcome of one correlation pass.
type Result struct {
	// Alerts are the candidates to upsert, sorted by Key. Key, Kind,
	// Severity, Title, Summary, Members (sorted) and Evidence are set;
	// FirstSeen and LastSeen are now; ID, Status and Count are the store's.
	Alerts []store.Alert
	// Recovered are the ids (ascending) of open "silent" alerts in open
	// whose device is enrolled, not revoked and no longer silent, so the
	// caller can resolve them.
	Recovered []int64
}

// Correlate runs the farm, shared-KVM and silent-device rules over the
// whole fleet. open are the currently open alerts (resolved ones are
// ignored): they keep farm keys stable and tell which silent devices
// recovered. opts get WithDefaults (and MinDevices or MinKVMDevices below
// 2 count as 2); now is the time of the pass. It does no I/O, keeps no
// state and does not modify its arguments.
func Correlate(devices []store.Device, open []store.Alert, opts Options, now time.Time) Result {
	opts = opts.WithDefaults()
	opts.MinDevices = max(opts.MinDevices, 2)
	opts.MinKVMDevices = max(opts.MinKVMDevices, 2)
	f := newFleet(devices, opts, now)

	var alerts []store.Alert
	alerts = append(alerts, f.farms(open)...)
	alerts = append(alerts, f.sharedKVMs()...)
	silent, recovered := f.silent(open)
	alerts = append(alerts, silent...)
	slices.SortFunc(alerts, func(a, b store.Alert) int { return strings.Compare(a.Key, b.Key) })
	return Result{Alerts: alerts, Recovered: recovered}
}

// fleet is the input of one pass, indexed.
type fleet struct {
	opts   Options
	now    time.Time
	cutoff time.Time // now - Window, inclusive
	// all holds one device per id (the most recently seen of duplicates),
	// in input order.
	all  []*store.Device
	byID map[string]int32 // id -> position in all
	// nodes are the devices of all that are not revoked and were seen
	// within the window; nodeOf maps positions in all to positions in
	// nodes (-1: not a node).
	nodes  []*store.Device
	nodeOf []int32
	office map[string]struct{}
}

func newFleet(devices []store.Device, opts Options, now time.Time) *fleet {
	f := &fleet{
		opts:   opts,
		now:    now,
		cutoff: now.Add(-opts.Window),
		office: make(map[string]struct{}, len(opts.OfficeNetworks)),
	}
	for _, h := range opts.OfficeNetworks {
		f.office[h] = struct{}{}
	}
	f.byID = make(map[string]int32, len(devices))
	f.all = make([]*store.Device, 0, len(devices))
	for i := range devices {
		d := &devices[i]
		if j, ok := f.byID[d.ID]; ok {
			if d.LastSeen.After(f.all[j].LastSeen) {
				f.all[j] = d
			}
			continue
		}
		f.byID[d.ID] = int32(len(f.all))
		f.all = append(f.all, d)
	}
	f.nodeOf = make([]int32, len(f.all))
	for j, d := range f.all {
		f.nodeOf[j] = -1
		if d.Revoked || !f.fresh(d.LastSeen) {
			continue
		}
		f.nodeOf[j] = int32(len(f.nodes))
		f.nodes = append(f.nodes, d)
	}
	return f
}

// node returns the node of the device with the id.
func (f *fleet) node(id string) (int32, bool) {
	j, ok := f.byID[id]
	if !ok {
		return 0, false
	}
	n := f.nodeOf[j]
	return n, n >= 0
}

// fresh reports whether t lies within the window (now-Window inclusive).
// The zero time never does.
func (f *fleet) fresh(t time.Time) bool {
	return !t.IsZero() && !t.Before(f.cutoff)
}

func (f *fleet) isOffice(hash string) bool {
	_, ok := f.office[hash]
	return ok
}

// isOpen reports whether a is an open alert of the kind.
func isOpen(a store.Alert, kind string) bool {
	return a.Kind == kind && a.Status != store.AlertResolved
}

// mustJSON encodes evidence. The evidence types are plain structs of
// strings, ints, slices and times; json.Marshal fails only for a time
// outside years 0–9999, which the store never holds: an empty object then.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}

// fmtDuration is d.String() without the trailing zero units ("24h", "90m",
// "1h30m").
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// abbrev shortens a hash for prose; evidence keeps it whole.
func abbrev(h string) string {
	if len(h) <= 12 {
		return h
	}
	return h[:12] + "…"
}

// plural returns "1 device" or "n devices".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// name is the device's hostname, or its id when it has none.
func name(d *store.Device) string {
	if d.Hostname != "" {
		return d.Hostname
	}
	return d.ID
}

// countOwners counts distinct owners; each device without one is its own
// unknown owner.
func countOwners(devs []*store.Device) int {
	owners := make([]string, 0, len(devs))
	unknown := 0
	for _, d := range devs {
		if d.Owner == "" {
			unknown++
			continue
		}
		owners = append(owners, d.Owner)
	}
	slices.Sort(owners)
	return len(slices.Compact(owners)) + unknown
}

func sortDevices(devs []*store.Device) {
	slices.SortFunc(devs, func(a, b *store.Device) int { return cmp.Compare(a.ID, b.ID) })
}

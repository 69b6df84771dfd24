package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// SilentEvidence is the Evidence of a "silent" alert.
type SilentEvidence struct {
	DeviceID string    `json:"device_id"`
	Hostname string    `json:"hostname"`
	Owner    string    `json:"owner"`
	LastSeen time.Time `json:"last_seen"`
	LastKind string    `json:"last_kind"`
	// SilentFor is now - LastSeen, to the second ("80h").
	SilentFor string `json:"silent_for"`
	// SilentAfter is Options.SilentAfter.
	SilentAfter string `json:"silent_after"`
}

// isSilent: not revoked, reported once, last seen more than SilentAfter
// ago (exclusive), and the last report was not a deliberate stop.
func (f *fleet) isSilent(d *store.Device) bool {
	return !d.Revoked && !d.LastSeen.IsZero() &&
		f.now.Sub(d.LastSeen) > f.opts.SilentAfter && d.LastKind != kindStopping
}

// silent returns the silent-device alerts and the ids of open silent
// alerts whose device is back.
func (f *fleet) silent(open []store.Alert) ([]store.Alert, []int64) {
	var alerts []store.Alert
	for _, d := range f.all {
		if !f.isSilent(d) {
			continue
		}
		silentFor := f.now.Sub(d.LastSeen).Truncate(time.Second)
		ev := SilentEvidence{
			DeviceID:    d.ID,
			Hostname:    d.Hostname,
			Owner:       d.Owner,
			LastSeen:    d.LastSeen.UTC(),
			LastKind:    d.LastKind,
			SilentFor:   fmtDuration(silentFor),
			SilentAfter: fmtDuration(f.opts.SilentAfter),
		}
		kind := d.LastKind
		if kind == "" {
			kind = "unknown"
		}
		alerts = append(alerts, store.Alert{
			Key:      KindSilent + ":" + d.ID,
			Kind:     KindSilent,
			Severity: severityMedium,
			Title:    fmt.Sprintf("Device %s silent for %s", name(d), ev.SilentFor),
			Summary: fmt.Sprintf("%s (owner %s) last reported %s ago, at %s (report kind %s), without announcing a stop: "+
				"the agent may have been removed or blocked, or the laptop is off the network.",
				name(d), ownerName(d), ev.SilentFor, ev.LastSeen.Format(time.RFC3339), kind),
			Members:   []string{d.ID},
			Evidence:  mustJSON(ev),
			FirstSeen: f.now,
			LastSeen:  f.now,
		})
	}

	var recovered []int64
	for _, a := range open {
		if !isOpen(a, KindSilent) {
			continue
		}
		id, ok := strings.CutPrefix(a.Key, KindSilent+":")
		if !ok && len(a.Members) == 1 {
			id, ok = a.Members[0], true
		}
		if !ok {
			continue
		}
		if j, ok := f.byID[id]; ok && !f.all[j].Revoked && !f.isSilent(f.all[j]) {
			recovered = append(recovered, a.ID)
		}
	}
	slices.Sort(recovered)
	return alerts, slices.Compact(recovered)
}

func ownerName(d *store.Device) string {
	if d.Owner == "" {
		return "unknown"
	}
	return d.Owner
}

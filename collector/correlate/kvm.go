package correlate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
)

// KVMEvidence is the Evidence of a "kvm_shared" alert.
type KVMEvidence struct {
	// SerialHash is the keyed hash of the KVM/EDID serial.
	SerialHash string `json:"serial_hash"`
	// Devices carry it, by device id.
	Devices []KVMDevice `json:"devices"`
	Owners  int         `json:"owners"`
	Window  string      `json:"window"`
}

// KVMDevice is one device that reports the shared KVM serial.
type KVMDevice struct {
	DeviceID string    `json:"device_id"`
	Hostname string    `json:"hostname"`
	Owner    string    `json:"owner"`
	LastSeen time.Time `json:"last_seen"`
}

// sharedKVMs finds KVM serial hashes reported by MinKVMDevices or more
// devices seen within the window.
func (f *fleet) sharedKVMs() []store.Alert {
	bySerial := make(map[string][]*store.Device)
	for _, d := range f.nodes {
		serials := d.Network.KVMSerials
		for k, s := range serials {
			if s == "" || slices.Contains(serials[:k], s) {
				continue
			}
			bySerial[s] = append(bySerial[s], d)
		}
	}
	var alerts []store.Alert
	for serial, devs := range bySerial {
		if len(devs) < f.opts.MinKVMDevices {
			continue
		}
		sortDevices(devs)
		ev := KVMEvidence{
			SerialHash: serial,
			Devices:    make([]KVMDevice, len(devs)),
			Owners:     countOwners(devs),
			Window:     fmtDuration(f.opts.Window),
		}
		ids := make([]string, len(devs))
		names := make([]string, len(devs))
		for k, d := range devs {
			ids[k], names[k] = d.ID, name(d)
			ev.Devices[k] = KVMDevice{DeviceID: d.ID, Hostname: d.Hostname, Owner: d.Owner, LastSeen: d.LastSeen.UTC()}
		}
		alerts = append(alerts, store.Alert{
			Key:      KindKVMShared + ":" + serial,
			Kind:     KindKVMShared,
			Severity: severityHigh,
			Title:    fmt.Sprintf("Same KVM on %s of %s", plural(len(devs), "device"), plural(ev.Owners, "owner")),
			Summary: fmt.Sprintf("KVM serial hash %s is reported by %s within %s: %s. "+
				"One IP-KVM moved between laptops, or several KVMs with one cloned identity.",
				abbrev(serial), plural(len(devs), "device"), ev.Window, strings.Join(names, ", ")),
			Members:   ids,
			Evidence:  mustJSON(ev),
			FirstSeen: f.now,
			LastSeen:  f.now,
		})
	}
	return alerts
}

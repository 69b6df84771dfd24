package kvm

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/farmwatch/farmwatch/detectors"
)

// Name is the detector's name in config, snapshots and findings.
const Name = "kvm"

func init() {
	detectors.Register(detectors.Info{
		Name:        Name,
		Description: "IP-KVM and capture hardware: USB keyboard/mouse gadgets (by identity and by structure) and KVM or capture-chip EDIDs",
		New:         New,
		Platforms:   []string{"linux", "darwin", "windows"},
	})
}

// Detector is the kvm detector.
type Detector struct {
	// collectWindows gathers the Windows device records; nil when this
	// build cannot (any GOOS but windows).
	collectWindows windowsCollector
}

var _ detectors.Detector = (*Detector)(nil)

// New returns a kvm detector for the running system.
func New() detectors.Detector {
	return &Detector{collectWindows: systemWindowsCollector}
}

// Name implements detectors.Detector.
func (*Detector) Name() string { return Name }

// Observe implements detectors.Detector. Linux is read through h.FS
// (sysfs), macOS through h.Exec (ioreg), Windows through SetupAPI and
// hid.dll. Sources that cannot be read are listed in the observation's
// errors; Observe itself fails only on an unsupported platform or a
// cancelled context.
func (d *Detector) Observe(ctx context.Context, h *detectors.Host) (detectors.Observation, error) {
	o := &Observation{Schema: Schema, OS: h.GOOS}
	switch h.GOOS {
	case "linux":
		observeLinux(ctx, h.FS, o)
	case "darwin":
		observeDarwin(ctx, h.Exec, o)
	case "windows":
		if d.collectWindows == nil {
			return nil, fmt.Errorf("kvm: observe windows: device enumeration is not built into this binary: %w", detectors.ErrUnsupported)
		}
		rec, err := d.collectWindows(ctx)
		if err != nil {
			return nil, fmt.Errorf("kvm: observe windows: %w", err)
		}
		decodeWindowsRecords(rec, o)
	default:
		return nil, fmt.Errorf("kvm: observe %s: %w", h.GOOS, detectors.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kvm: observe: %w", err)
	}
	o.normalise()
	return o, nil
}

// DecodeObservation implements detectors.Detector.
func (*Detector) DecodeObservation(raw json.RawMessage) (detectors.Observation, error) {
	return decodeObservation(raw)
}

// DecodePolicy implements detectors.Detector.
func (*Detector) DecodePolicy(raw json.RawMessage) (detectors.Policy, error) {
	return decodePolicy(raw)
}

// Evaluate implements detectors.Detector. The previous observation is not
// used: every rule judges the hardware attached now.
func (*Detector) Evaluate(cur, _ detectors.Observation, pol detectors.Policy) []detectors.Finding {
	o, ok := cur.(*Observation)
	if !ok || o == nil {
		return nil
	}
	p, _ := pol.(*Policy)
	if p == nil {
		p = &Policy{}
	}
	return evaluate(o, p)
}

package geodrift

import (
	"context"
	"encoding/json"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

// Name is the detector's name in config, snapshots and findings.
const Name = "geodrift"

func init() {
	detectors.Register(detectors.Info{
		Name:        Name,
		Description: "where the device says it is: time zone, locale, keyboard layouts, VPN interfaces and clients (Astrill …), landmark round-trip times, network identity",
		New:         func() detectors.Detector { return New() },
		Platforms:   []string{"windows", "darwin", "linux"},
	})
}

type detector struct {
	native      nativeSource
	network     networkSource
	winSoftware func(context.Context) ([]inventory.Software, error)
	prober      *prober
}

var (
	_ detectors.Detector       = (*detector)(nil)
	_ detectors.PolicyObserver = (*detector)(nil)
)

// New returns the detector with the embedded catalogue and the default
// policy (the engine hands it the decoded policy through ObserveWith).
func New() detectors.Detector {
	return &detector{
		native:      newNativeSource(),
		network:     netinfoSource{},
		winSoftware: inventory.WindowsSoftware,
		prober:      newProber(),
	}
}

func (d *detector) Name() string { return Name }

// DecodeObservation implements detectors.Detector.
func (d *detector) DecodeObservation(raw json.RawMessage) (detectors.Observation, error) {
	return decodeObservation(raw)
}

// DecodePolicy implements detectors.Detector. Unknown fields, unknown
// client ids, bad zone names and bad landmarks are errors, so a typo
// cannot silently weaken the policy.
func (d *detector) DecodePolicy(raw json.RawMessage) (detectors.Policy, error) {
	return decodePolicy(raw, DefaultCatalogue())
}

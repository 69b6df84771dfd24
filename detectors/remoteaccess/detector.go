package remoteaccess

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Name is the detector's name in config, snapshots and findings.
const Name = "remoteaccess"

func init() {
	detectors.Register(detectors.Info{
		Name:        Name,
		Description: "remote-control and RMM tools, tunnels, the OS's own remote-desktop hosts and remote sessions",
		New:         func() detectors.Detector { return New(DefaultCatalogue()) },
		Platforms:   []string{"windows", "darwin", "linux"},
	})
}

type detector struct {
	cat    *Catalogue
	native nativeSource
}

var _ detectors.Detector = (*detector)(nil)

// New returns the detector with the given catalogue.
func New(cat *Catalogue) detectors.Detector {
	return &detector{cat: cat, native: newNativeSource()}
}

func (d *detector) Name() string { return Name }

// DecodeObservation implements detectors.Detector.
func (d *detector) DecodeObservation(raw json.RawMessage) (detectors.Observation, error) {
	return decodeObservation(raw)
}

// Policy is the remoteaccess section of the fleet policy.
type Policy struct {
	// Sanctioned tools are reported at info only, as long as what was seen
	// fits the entry's constraints.
	Sanctioned []Sanction `json:"sanctioned"`
	// OSRemoteDesktopAllowed lowers findings about the OS's own remote
	// desktop (RDP, Screen Sharing …) to info, for fleets that use it.
	OSRemoteDesktopAllowed bool `json:"os_remote_desktop_allowed"`
}

// Sanction names a tool IT has approved, optionally only from given
// install paths (prefixes of executable, service or install locations, in
// any OS's form) or publishers (uninstall-entry publisher names).
type Sanction struct {
	Tool       string   `json:"tool"`
	Paths      []string `json:"paths,omitempty"`
	Publishers []string `json:"publishers,omitempty"`
	Reason     string   `json:"reason,omitempty"`
}

// DecodePolicy implements detectors.Detector. Unknown fields and unknown
// tool ids are errors, so a typo cannot silently sanction nothing.
func (d *detector) DecodePolicy(raw json.RawMessage) (detectors.Policy, error) {
	p := &Policy{}
	if len(raw) == 0 || string(raw) == "null" {
		return p, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("remoteaccess policy: %w", err)
	}
	for i, s := range p.Sanctioned {
		if _, ok := d.cat.Tool(s.Tool); !ok {
			return nil, fmt.Errorf("remoteaccess policy: sanctioned[%d]: unknown tool %q (see the catalogue ids in detectors/remoteaccess/catalogue.yaml)", i, s.Tool)
		}
	}
	return p, nil
}

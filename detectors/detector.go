package detectors

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// Observation is what a detector's Observe returns: a versioned,
// JSON-serialisable value. ObservationSchema names its version, e.g.
// "remoteaccess/v1"; the JSON form carries it in a "schema" field.
type Observation interface {
	ObservationSchema() string
}

// Policy is a detector's decoded, validated policy (sanctioned tools,
// thresholds …). Each detector defines its own concrete type.
type Policy any

// Detector is one detection capability, in two phases.
type Detector interface {
	// Name is the detector's stable name, used in config, snapshots and
	// findings ("remoteaccess").
	Name() string
	// Observe looks at the host, only through h.
	Observe(ctx context.Context, h *Host) (Observation, error)
	// DecodeObservation parses a recorded observation (from a snapshot).
	// A schema other than the detector's own is an error.
	DecodeObservation(raw json.RawMessage) (Observation, error)
	// DecodePolicy parses and validates the detector's policy section;
	// empty input yields the default policy.
	DecodePolicy(raw json.RawMessage) (Policy, error)
	// Evaluate turns observations into findings. It is pure: no I/O, no
	// clock, no globals beyond read-only tables. prev may be nil.
	// Evaluate leaves Detector and ObservedAt to the engine.
	Evaluate(cur, prev Observation, pol Policy) []Finding
}

// PolicyObserver is implemented by detectors whose observation depends on
// their policy (landmarks to probe, network probes switched off). The
// engine calls ObserveWith, with the detector's decoded policy (nil for
// the default), instead of Observe.
type PolicyObserver interface {
	ObserveWith(ctx context.Context, h *Host, pol Policy) (Observation, error)
}

// Info describes a registered detector.
type Info struct {
	Name string
	// Description says in a line what the detector checks, for people.
	Description string
	// New returns a fresh detector.
	New func() Detector
	// Platforms lists the GOOS values Observe supports.
	Platforms []string
	// Service, when set, builds the detector's long-running part, which
	// the agent service runs and hands to Observe through Host.Services.
	Service func(ServiceConfig) (Service, error)
}

var (
	regMu    sync.RWMutex
	registry = map[string]Info{}
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Register adds a detector; detector packages call it from init. It panics
// on a bad or duplicate name, which is a programming error.
func Register(info Info) {
	if !nameRE.MatchString(info.Name) || info.New == nil {
		panic(fmt.Sprintf("detectors: bad registration %q", info.Name))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[info.Name]; dup {
		panic(fmt.Sprintf("detectors: %q registered twice", info.Name))
	}
	registry[info.Name] = info
}

// Registered returns every registered detector, sorted by name.
func Registered() []Info {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Info, 0, len(registry))
	for _, i := range registry {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Lookup returns the registered detector called name.
func Lookup(name string) (Info, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	i, ok := registry[name]
	return i, ok
}

// Supports reports whether the detector observes on goos.
func (i Info) Supports(goos string) bool {
	for _, p := range i.Platforms {
		if p == goos {
			return true
		}
	}
	return false
}

// CheckSchema decodes the "schema" field of raw and compares it with want.
// A missing field is accepted (the snapshot contract's example omits it).
func CheckSchema(raw json.RawMessage, want string) error {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("decode %s observation: %w", want, err)
	}
	if head.Schema != nil && *head.Schema != want {
		return fmt.Errorf("observation schema %q is not %q", *head.Schema, want)
	}
	return nil
}

// SourceError names a source an Observe could not read. Observations list
// them so that an unreadable source is never mistaken for a clean one.
type SourceError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// DecodeObservation checks the schema of a recorded observation and
// decodes it into a new T, whose JSON "schema" field is then set to schema.
func DecodeObservation[T any, PT interface {
	*T
	Observation
}](raw json.RawMessage, schema string) (PT, error) {
	if err := CheckSchema(raw, schema); err != nil {
		return nil, err
	}
	o := PT(new(T))
	if err := json.Unmarshal(raw, o); err != nil {
		return nil, fmt.Errorf("decode %s observation: %w", schema, err)
	}
	return o, nil
}

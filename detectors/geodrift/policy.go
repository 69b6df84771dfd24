package geodrift

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
	// Windows has no zoneinfo database of its own: the embedded copy lets
	// policy validation and the time zone offset work there too.
	_ "time/tzdata"
)

// Policy is the geodrift section of the fleet policy (settings.geodrift).
type Policy struct {
	// ExpectedTimeZones are the IANA zones the fleet's devices may be set
	// to ("America/Chicago"); empty means no time zone finding. Names are
	// compared exactly: list every name in use for a region.
	ExpectedTimeZones []string `json:"expected_time_zones,omitempty"`
	// Landmarks are servers whose TCP connect time Observe measures, for
	// the collector's physical-distance bound. None by default: probing is
	// a network action and operators choose their own servers.
	Landmarks []Landmark `json:"landmarks,omitempty"`
	// Samples is how many connects are timed per landmark (the minimum
	// counts); default 5, at most 20.
	Samples int `json:"samples,omitempty"`
	// SampleTimeout bounds one connect; default 2s, at most 10s.
	SampleTimeout Duration `json:"sample_timeout,omitempty"`
	// ProbeDeadline bounds all landmark probing; default 15s, at most 45s
	// (the engine gives a detector 60s).
	ProbeDeadline Duration `json:"probe_deadline,omitempty"`
	// Concurrency bounds how many landmarks are probed at once; default 4,
	// at most 16.
	Concurrency int `json:"concurrency,omitempty"`
	// Clients extend the embedded VPN catalogue.
	Clients []Client `json:"clients,omitempty"`
	// Sanctioned are catalogue ids of VPN clients the organisation
	// approves; they raise no finding.
	Sanctioned []string `json:"sanctioned,omitempty"`

	// cat is the catalogue with Clients added.
	cat *Catalogue
}

// Landmark is a server whose connect time bounds the device's distance
// from it.
type Landmark struct {
	Name string `json:"name"`
	// Address is "host:port" of a TCP service that accepts connections.
	Address   string  `json:"address"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Policy defaults and limits.
const (
	DefaultSamples       = 5
	MaxSamples           = 20
	DefaultSampleTimeout = 2 * time.Second
	MaxSampleTimeout     = 10 * time.Second
	DefaultProbeDeadline = 15 * time.Second
	MaxProbeDeadline     = 45 * time.Second
	DefaultConcurrency   = 4
	MaxConcurrency       = 16
	MaxLandmarks         = 64
)

// Duration is a time.Duration written as a Go duration string ("2s").
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// decodePolicy parses and validates raw against the base catalogue. Empty
// input yields the default policy.
func decodePolicy(raw json.RawMessage, base *Catalogue) (*Policy, error) {
	p := &Policy{}
	if len(bytes.TrimSpace(raw)) > 0 && string(bytes.TrimSpace(raw)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			return nil, fmt.Errorf("geodrift policy: %w", err)
		}
	}
	if err := p.validate(base); err != nil {
		return nil, fmt.Errorf("geodrift policy: %w", err)
	}
	return p, nil
}

// validate checks p and fills in defaults and the extended catalogue.
func (p *Policy) validate(base *Catalogue) error {
	var errs []error
	for i, z := range p.ExpectedTimeZones {
		if err := checkZoneName(z); err != nil {
			errs = append(errs, fmt.Errorf("expected_time_zones[%d]: %w", i, err))
		}
	}
	if len(p.Landmarks) > MaxLandmarks {
		errs = append(errs, fmt.Errorf("landmarks: %d listed, at most %d", len(p.Landmarks), MaxLandmarks))
	}
	names := map[string]bool{}
	for i, l := range p.Landmarks {
		if err := l.validate(); err != nil {
			errs = append(errs, fmt.Errorf("landmarks[%d]: %w", i, err))
		}
		if names[l.Name] {
			errs = append(errs, fmt.Errorf("landmarks[%d]: name %q used twice", i, l.Name))
		}
		names[l.Name] = true
	}
	if p.Samples < 0 || p.Samples > MaxSamples {
		errs = append(errs, fmt.Errorf("samples %d: between 1 and %d", p.Samples, MaxSamples))
	}
	if p.SampleTimeout < 0 || time.Duration(p.SampleTimeout) > MaxSampleTimeout {
		errs = append(errs, fmt.Errorf("sample_timeout %s: at most %s", time.Duration(p.SampleTimeout), MaxSampleTimeout))
	}
	if p.ProbeDeadline < 0 || time.Duration(p.ProbeDeadline) > MaxProbeDeadline {
		errs = append(errs, fmt.Errorf("probe_deadline %s: at most %s", time.Duration(p.ProbeDeadline), MaxProbeDeadline))
	}
	if p.Concurrency < 0 || p.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d: between 1 and %d", p.Concurrency, MaxConcurrency))
	}
	cat, err := base.WithClients(p.Clients)
	if err != nil {
		errs = append(errs, fmt.Errorf("clients: %w", err))
		cat = base
	}
	for i, id := range p.Sanctioned {
		if _, ok := cat.Client(id); !ok {
			errs = append(errs, fmt.Errorf("sanctioned[%d]: unknown VPN client %q (see the ids in detectors/geodrift/catalogue.yaml)", i, id))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if p.Samples == 0 {
		p.Samples = DefaultSamples
	}
	if p.SampleTimeout == 0 {
		p.SampleTimeout = Duration(DefaultSampleTimeout)
	}
	if p.ProbeDeadline == 0 {
		p.ProbeDeadline = Duration(DefaultProbeDeadline)
	}
	if p.Concurrency == 0 {
		p.Concurrency = DefaultConcurrency
	}
	p.cat = cat
	return nil
}

// checkZoneName accepts an IANA zone name that Go's zone database
// (embedded, see time/tzdata) knows. "Local" and "" are refused: they
// name no place.
func checkZoneName(z string) error {
	if z == "" || z == "Local" || strings.TrimSpace(z) != z {
		return fmt.Errorf("%q is not an IANA time zone name", z)
	}
	if _, err := time.LoadLocation(z); err != nil {
		return fmt.Errorf("%q is not an IANA time zone name: %w", z, err)
	}
	return nil
}

func (l Landmark) validate() error {
	if strings.TrimSpace(l.Name) == "" {
		return errors.New("empty name")
	}
	host, port, err := net.SplitHostPort(l.Address)
	if err != nil {
		return fmt.Errorf("address %q: want host:port: %w", l.Address, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: empty host", l.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address %q: port must be 1-65535", l.Address)
	}
	if math.IsNaN(l.Latitude) || l.Latitude < -90 || l.Latitude > 90 {
		return fmt.Errorf("latitude %v: between -90 and 90", l.Latitude)
	}
	if math.IsNaN(l.Longitude) || l.Longitude < -180 || l.Longitude > 180 {
		return fmt.Errorf("longitude %v: between -180 and 180", l.Longitude)
	}
	return nil
}

// catalogue returns the catalogue the policy extends (the default one for
// a nil policy).
func (p *Policy) catalogue() *Catalogue {
	if p == nil || p.cat == nil {
		return DefaultCatalogue()
	}
	return p.cat
}

// sanctioned reports whether the policy approves the client id.
func (p *Policy) sanctioned(id string) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Sanctioned {
		if s == id {
			return true
		}
	}
	return false
}

// defaultPolicy is the policy of a detector whose DecodePolicy was never
// called: what decoding an empty section gives.
func defaultPolicy() *Policy {
	return &Policy{
		Samples:       DefaultSamples,
		SampleTimeout: Duration(DefaultSampleTimeout),
		ProbeDeadline: Duration(DefaultProbeDeadline),
		Concurrency:   DefaultConcurrency,
		cat:           DefaultCatalogue(),
	}
}

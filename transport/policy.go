package transport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// PolicyDoc is the fleet policy the collector serves at /v1/policy.
type PolicyDoc struct {
	// Version is PolicyVersion(Policy).
	Version string      `json:"version"`
	Policy  FleetPolicy `json:"policy"`
}

// FleetPolicy is what the SOC decides for every agent of the fleet.
type FleetPolicy struct {
	// Detectors lists the detectors to run; empty means all.
	Detectors []string `json:"detectors,omitempty"`
	// ScanInterval is the time between check cycles ("1h").
	ScanInterval string `json:"scan_interval,omitempty"`
	// HeartbeatInterval is the longest silence between reports ("15m").
	HeartbeatInterval string `json:"heartbeat_interval,omitempty"`
	// LANSweep is replaced by settings.colocation.arp_sweep (the ARP sweep
	// is the colocation detector's, with its size and rate next to it). It
	// is still read so that existing configurations and stored policies
	// load; Validate refuses true and names the replacement.
	LANSweep bool `json:"lan_sweep"`
	// Settings holds one section per detector (sanctioned tools,
	// thresholds, landmark servers …), each decoded by its detector.
	Settings map[string]json.RawMessage `json:"settings,omitempty"`
}

// Validate checks what can be checked without the detectors (the agent
// also decodes each Settings section with its detector).
func (p *FleetPolicy) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"scan_interval", p.ScanInterval}, {"heartbeat_interval", p.HeartbeatInterval}} {
		if f.v == "" {
			continue
		}
		d, err := time.ParseDuration(f.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		} else if d < time.Minute || d > 7*24*time.Hour {
			errs = append(errs, fmt.Errorf("%s %s: between 1m and 168h", f.name, f.v))
		}
	}
	if p.LANSweep {
		errs = append(errs, errors.New("lan_sweep is replaced by settings.colocation.arp_sweep: true (see docs/colocation.md)"))
	}
	for name, raw := range p.Settings {
		if !json.Valid(raw) || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			errs = append(errs, fmt.Errorf("settings.%s: not a JSON object", name))
		}
	}
	return errors.Join(errs...)
}

// Intervals returns the scan and heartbeat intervals with defaults
// (1h and 15m).
func (p *FleetPolicy) Intervals() (scan, heartbeat time.Duration) {
	scan, heartbeat = time.Hour, 15*time.Minute
	if d, err := time.ParseDuration(p.ScanInterval); err == nil && p.ScanInterval != "" {
		scan = d
	}
	if d, err := time.ParseDuration(p.HeartbeatInterval); err == nil && p.HeartbeatInterval != "" {
		heartbeat = d
	}
	return scan, heartbeat
}

// PolicyVersion is a content hash of p: the same policy has the same
// version on every collector node.
func PolicyVersion(p FleetPolicy) (string, error) {
	// encoding/json sorts map keys; compact the raw sections so formatting
	// does not change the version.
	c := p
	c.Settings = map[string]json.RawMessage{}
	names := make([]string, 0, len(p.Settings))
	for n := range p.Settings {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var buf bytes.Buffer
		if err := json.Compact(&buf, p.Settings[n]); err != nil {
			return "", fmt.Errorf("policy settings.%s: %w", n, err)
		}
		c.Settings[n] = buf.Bytes()
	}
	data, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return "p-" + hex.EncodeToString(sum[:8]), nil
}

// PolicyFileName is the last good fleet policy in the state directory.
const PolicyFileName = "policy.json"

// SavePolicy keeps doc as the last good policy.
func SavePolicy(dir string, doc *PolicyDoc) error {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, PolicyFileName), append(data, '\n'), 0o644)
}

// LoadPolicy reads the last good policy; nil, nil when there is none.
func LoadPolicy(dir string) (*PolicyDoc, error) {
	data, err := os.ReadFile(filepath.Join(dir, PolicyFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	var doc PolicyDoc
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("policy %s: %w", PolicyFileName, err)
	}
	return &doc, nil
}

package detectors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Severity ranks a finding. The zero value is SeverityInfo.
type Severity int

// Severities, lowest first. The order is the order of importance.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// String returns the contract name of s ("info" … "critical").
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a contract severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for i, s := range severityNames {
		if s == n {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want one of %s)", name, strings.Join(severityNames[:], ", "))
}

// MarshalText encodes s as its contract name.
func (s Severity) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText decodes a contract severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is one conclusion of a detector, in the Finding contract of
// DESIGN.md: {id, detector, rule, severity, confidence, title, summary,
// evidence, mitre, observed_at}. Rationale (why it matters) and
// Remediation (what to do) are additions for people reading the finding.
type Finding struct {
	// ID is stable for the same rule and subject, so repeated scans of the
	// same condition yield the same id (see FindingID).
	ID       string `json:"id"`
	Detector string `json:"detector"`
	// Rule is a stable dotted id, e.g. "remoteaccess.running".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Confidence in [0,1] that the finding is a true positive.
	Confidence float64 `json:"confidence"`
	Title      string  `json:"title"`
	// Summary says in plain words what matched.
	Summary string `json:"summary"`
	// Rationale says why it matters for laptop-farm detection.
	Rationale   string         `json:"rationale,omitempty"`
	Remediation string         `json:"remediation,omitempty"`
	Evidence    map[string]any `json:"evidence"`
	MITRE       []string       `json:"mitre"`
	ObservedAt  time.Time      `json:"observed_at"`
	// Escalate, when set by Evaluate, asks the engine to raise the
	// finding when another detector corroborates it (see Escalation). The
	// engine clears it; it never leaves the process.
	Escalate *Escalation `json:"-"`
}

// FindingID derives a finding id from its rule and the parts that name its
// subject (a tool id, a device serial …). Evaluate is pure, so ids are
// content-derived, never random.
func FindingID(rule string, subject ...string) string {
	h := sha256.New()
	h.Write([]byte(rule))
	for _, s := range subject {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return "fnd_" + hex.EncodeToString(h.Sum(nil)[:10])
}

// Validate reports the first way f breaks the Finding contract.
func (f *Finding) Validate() error {
	switch {
	case f.ID == "":
		return fmt.Errorf("finding: empty id")
	case f.Detector == "":
		return fmt.Errorf("finding %s: empty detector", f.ID)
	case !strings.HasPrefix(f.Rule, f.Detector+"."):
		return fmt.Errorf("finding %s: rule %q is not under detector %q", f.ID, f.Rule, f.Detector)
	case f.Severity < SeverityInfo || f.Severity > SeverityCritical:
		return fmt.Errorf("finding %s: invalid severity %d", f.ID, int(f.Severity))
	case f.Confidence < 0 || f.Confidence > 1:
		return fmt.Errorf("finding %s: confidence %v outside [0,1]", f.ID, f.Confidence)
	case f.Title == "" || f.Summary == "":
		return fmt.Errorf("finding %s: empty title or summary", f.ID)
	}
	return nil
}

// MarshalJSON keeps evidence and mitre as {} and [] rather than null.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	p := plain(f)
	if p.Evidence == nil {
		p.Evidence = map[string]any{}
	}
	if p.MITRE == nil {
		p.MITRE = []string{}
	}
	return json.Marshal(p)
}

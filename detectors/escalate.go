package detectors

import (
	"maps"
	"slices"
)

// Escalation asks the engine to raise a finding's severity when another
// detector's finding of the same evaluation corroborates it: a KVM
// appliance heard on the LAN (colocation) is worse when a KVM is also
// plugged into the laptop (kvm). Evaluate sees only its own detector's
// observation, so the cross-detector step belongs to the engine; it is
// declarative so that detectors never import each other.
type Escalation struct {
	// Detector names the detector whose findings corroborate ("kvm").
	Detector string
	// MinSeverity is the least severity a corroborating finding has.
	MinSeverity Severity
	// To is the severity the finding is raised to; a finding already at
	// or above it is left as it is.
	To Severity
}

// EvidenceCorroboratedBy is the evidence key under which an escalated
// finding lists the rules of the findings that raised it.
const EvidenceCorroboratedBy = "corroborated_by"

// ApplyEscalations raises every finding of fs that asks for an escalation
// (Finding.Escalate) and has a corroborating finding among fs, records the
// corroborating rules in its evidence, and clears every Escalate field.
// Corroboration is judged on the severities the detectors gave, before
// any escalation, so the order of fs does not matter.
func ApplyEscalations(fs []Finding) {
	type key struct {
		detector string
		min      Severity
	}
	corroborating := map[key][]string{}
	for i := range fs {
		e := fs[i].Escalate
		if e == nil {
			continue
		}
		k := key{e.Detector, e.MinSeverity}
		if _, done := corroborating[k]; done {
			continue
		}
		rules := []string{}
		for j := range fs {
			if j != i && fs[j].Detector == e.Detector && fs[j].Severity >= e.MinSeverity {
				rules = append(rules, fs[j].Rule)
			}
		}
		slices.Sort(rules)
		corroborating[k] = slices.Compact(rules)
	}
	for i := range fs {
		e := fs[i].Escalate
		fs[i].Escalate = nil
		if e == nil {
			continue
		}
		rules := corroborating[key{e.Detector, e.MinSeverity}]
		if len(rules) == 0 {
			continue
		}
		ev := maps.Clone(fs[i].Evidence)
		if ev == nil {
			ev = map[string]any{}
		}
		ev[EvidenceCorroboratedBy] = rules
		fs[i].Evidence = ev
		if fs[i].Severity < e.To {
			fs[i].Severity = e.To
		}
	}
}

package detectors

import (
	"reflect"
	"testing"
)

func TestApplyEscalations(t *testing.T) {
	t.Parallel()
	esc := &Escalation{Detector: "kvm", MinSeverity: SeverityMedium, To: SeverityHigh}
	lan := func() Finding {
		return Finding{ID: "lan", Detector: "colocation", Rule: "colocation.kvm_appliance", Severity: SeverityMedium, Evidence: map[string]any{"vendor": "JetKVM"}, Escalate: esc}
	}
	usb := func(sev Severity) Finding {
		return Finding{ID: "usb", Detector: "kvm", Rule: "kvm.jetkvm_usb_identity", Severity: sev}
	}
	for _, tc := range []struct {
		name      string
		in        []Finding
		want      Severity
		corrobors []string
	}{
		{"alone", []Finding{lan()}, SeverityMedium, nil},
		{"kvm finding too weak", []Finding{lan(), usb(SeverityLow)}, SeverityMedium, nil},
		{"kvm finding corroborates", []Finding{usb(SeverityHigh), lan()}, SeverityHigh, []string{"kvm.jetkvm_usb_identity"}},
		{"same detector does not count", []Finding{lan(), {ID: "x", Detector: "colocation", Rule: "colocation.peers", Severity: SeverityHigh}}, SeverityMedium, nil},
		{"already higher stays", []Finding{func() Finding { f := lan(); f.Severity = SeverityCritical; return f }(), usb(SeverityHigh)}, SeverityCritical, []string{"kvm.jetkvm_usb_identity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			orig := lan().Evidence
			ApplyEscalations(tc.in)
			for _, f := range tc.in {
				if f.Escalate != nil {
					t.Errorf("%s: Escalate left set", f.ID)
				}
				if f.ID != "lan" {
					continue
				}
				if f.Severity != tc.want {
					t.Errorf("severity %s, want %s", f.Severity, tc.want)
				}
				got, _ := f.Evidence[EvidenceCorroboratedBy].([]string)
				if !reflect.DeepEqual(got, tc.corrobors) {
					t.Errorf("corroborated by %v, want %v", got, tc.corrobors)
				}
			}
			if _, leaked := orig[EvidenceCorroboratedBy]; leaked {
				t.Error("the evidence map of the detector was modified in place")
			}
		})
	}
}

// TestEngineEscalates: Engine.Evaluate applies escalations across
// detectors before sorting.
func TestEngineEscalates(t *testing.T) {
	t.Parallel()
	lan := &fakeDetector{name: "colocation", eval: func(Observation) []Finding {
		return []Finding{{ID: "lan", Rule: "colocation.kvm_appliance", Severity: SeverityMedium, Title: "t", Summary: "s",
			Escalate: &Escalation{Detector: "kvm", MinSeverity: SeverityMedium, To: SeverityHigh}}}
	}}
	kvm := &fakeDetector{name: "kvm", eval: func(Observation) []Finding {
		return []Finding{{ID: "usb", Rule: "kvm.composite", Severity: SeverityHigh, Title: "t", Summary: "s"}}
	}}
	e := &Engine{Detectors: []Detector{lan, kvm}}
	fs, _ := e.Evaluate(map[string]Observation{"colocation": &fakeObs{}, "kvm": &fakeObs{}}, nil, testHost().Now())
	if len(fs) != 2 || fs[0].Severity != SeverityHigh || fs[1].Severity != SeverityHigh || fs[0].Escalate != nil || fs[1].Escalate != nil {
		t.Errorf("findings %+v", fs)
	}
}

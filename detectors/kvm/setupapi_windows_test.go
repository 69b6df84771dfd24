package kvm

import (
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/farmwatch/farmwatch/detectors"
)

// TestCollectSetupAPI runs the SetupAPI and hid.dll calls for real (under
// Wine in CI): every source must be readable, and the records must decode
// into an observation.
func TestCollectSetupAPI(t *testing.T) {
	r, err := collectSetupAPI(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Errors {
		t.Errorf("source %s unreadable: %s", e.Source, e.Error)
	}
	t.Logf("%d USB nodes, %d HID nodes, %d monitors", len(r.USB), len(r.HID), len(r.Monitors))
	for _, m := range r.Monitors {
		if m.InstanceID == "" {
			t.Errorf("monitor without an instance id: %+v", m)
		}
	}

	d := New()
	obs, err := d.Observe(t.Context(), detectors.SystemHost(zaptest.NewLogger(t)))
	if obs == nil {
		t.Fatalf("Observe: %v", err)
	}
	o := obs.(*Observation)
	if o.OS != "windows" {
		t.Errorf("observation OS %q", o.OS)
	}
	for _, e := range o.Errors {
		t.Errorf("observation source %s unreadable: %s", e.Source, e.Error)
	}
	// A host with no KVM attached yields nothing at medium or above.
	for _, f := range d.Evaluate(o, nil, nil) {
		if f.Severity >= detectors.SeverityMedium {
			t.Errorf("finding on a host without a KVM: %s %s", f.Rule, f.Summary)
		}
	}
}

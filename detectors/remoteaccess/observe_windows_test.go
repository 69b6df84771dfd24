package remoteaccess

import (
	"testing"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/farmwatch/farmwatch/detectors"
)

// TestObserveWindowsEndToEnd runs the whole Windows observation on the real
// host (under Wine in CI): an auto-start service with AnyDesk's service
// name and an AnyDesk uninstall entry must come out as AnyDesk set up for
// unattended access.
func TestObserveWindowsEndToEnd(t *testing.T) {
	createService(t, "AnyDesk", mgr.Config{DisplayName: "AnyDesk Service", StartType: mgr.StartAutomatic})
	uninstallEntry(t, registry.LOCAL_MACHINE, registry.WOW64_32KEY, testName("anydesk"), anyDeskValues(`C:\Program Files (x86)\AnyDesk`))

	h := detectors.SystemHost(zaptest.NewLogger(t))
	d := New(DefaultCatalogue())
	obs, err := d.Observe(t.Context(), h)
	if obs == nil {
		t.Fatalf("Observe: %v", err)
	}
	o := obs.(*Observation)
	for _, e := range o.Errors {
		if e.Source == "windows_services" || e.Source == "uninstall_keys" {
			t.Errorf("source %s unreadable: %s", e.Source, e.Error)
		}
	}
	var found *detectors.Finding
	fs := d.Evaluate(o, nil, nil)
	for i := range fs {
		if fs[i].Evidence["tool"] == "anydesk" {
			found = &fs[i]
		}
	}
	if found == nil {
		t.Fatalf("AnyDesk not found; findings %v", rules(fs))
	}
	if found.Rule != RuleUnattended || found.Severity != detectors.SeverityHigh {
		t.Errorf("AnyDesk found as %s/%s, want %s/high: %s", found.Rule, found.Severity, RuleUnattended, found.Summary)
	}
	if len(o.Processes) == 0 {
		t.Error("no process listed on the Windows host")
	}
}

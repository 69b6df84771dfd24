package kvm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// binaryAttrs are the sysfs attributes that hold bytes; fixtures store
// them as hex because txtar holds text.
var binaryAttrs = []string{"edid", "report_descriptor"}

// fixtureHost builds the fake host of a fixture directory, decoding the
// hex of binary sysfs attributes.
func fixtureHost(t testing.TB, goos, dir string) *detectors.Host {
	t.Helper()
	h := detectortest.Host(t, goos, dir)
	if m, ok := h.FS.(fstest.MapFS); ok {
		if err := decodeBinaryAttrs(m); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
	}
	return h
}

// decodeBinaryAttrs replaces the hex of binary attributes with their
// bytes.
func decodeBinaryAttrs(m fstest.MapFS) error {
	var firstErr error
	for name, f := range m {
		if f.Mode.Type() == os.ModeSymlink || !slices.Contains(binaryAttrs, path.Base(name)) {
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(f.Data)))
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s is not hex: %w", name, err)
			}
			continue
		}
		f.Data = b
	}
	return firstErr
}

// fixtureDetector is the detector for a fixture: on Windows it replays
// the recorded device records of devices.json instead of SetupAPI.
func fixtureDetector(t testing.TB, goos, dir string) *Detector {
	t.Helper()
	d := &Detector{}
	if goos == "windows" {
		data, err := os.ReadFile(filepath.Join(dir, "devices.json"))
		if err != nil {
			t.Fatal(err)
		}
		d.collectWindows = func(context.Context) (*windowsRecords, error) { return parseWindowsRecords(data) }
	}
	return d
}

// observeFixture observes the fixture directory dir (testdata/<goos>-<case>).
func observeFixture(t testing.TB, dir string) *Observation {
	t.Helper()
	goos, _, _ := strings.Cut(filepath.Base(dir), "-")
	obs, err := fixtureDetector(t, goos, dir).Observe(context.Background(), fixtureHost(t, goos, dir))
	if err != nil {
		t.Fatalf("observe %s: %v", dir, err)
	}
	return obs.(*Observation)
}

// want lists the rules expected at medium or above, with their severity.
type want map[string]detectors.Severity

var fixtureWants = map[string]want{
	"linux-pikvm": {
		"kvm.pikvm_usb_identity": detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh,
		"kvm.pikvm_edid": detectors.SeverityHigh, RuleCorroborated: detectors.SeverityCritical,
	},
	"linux-tinypilot": {
		"kvm.tinypilot_usb_identity": detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh,
		"kvm.tinypilot_edid": detectors.SeverityHigh, RuleCorroborated: detectors.SeverityCritical,
	},
	"linux-nanokvm": {
		"kvm.nanokvm_usb_identity": detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh,
		"kvm.nanokvm_edid": detectors.SeverityHigh, RuleCorroborated: detectors.SeverityCritical,
	},
	"linux-capture_stick_ms2109": {
		"kvm.ch9329_usb_identity": detectors.SeverityMedium, RuleComposite: detectors.SeverityMedium,
		RuleCaptureEDID: detectors.SeverityMedium, RuleCorroborated: detectors.SeverityCritical,
	},
	"linux-clean_docked_laptop": {},
	"darwin-jetkvm_spoofed_logitech": {
		RuleSpoofUSB: detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh,
		RuleSpoofEDID: detectors.SeverityHigh, RuleCorroborated: detectors.SeverityCritical,
	},
	"darwin-glinet_comet":         {"kvm.glinet_usb_identity": detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh},
	"darwin-clean_docked_laptop":  {},
	"windows-glinet_comet":        {"kvm.glinet_usb_identity": detectors.SeverityHigh, RuleComposite: detectors.SeverityHigh},
	"windows-clean_docked_laptop": {},
}

func fixtureDirs(t *testing.T) []string {
	var dirs []string
	for _, goos := range []string{"linux-", "darwin-", "windows-"} {
		dirs = append(dirs, detectortest.Dirs(t, goos)...)
	}
	return dirs
}

// TestFixtures observes every fixture host, compares observation and
// findings with their goldens and checks the rules each case must (and
// must only) raise at medium or above.
func TestFixtures(t *testing.T) {
	t.Parallel()
	dirs := fixtureDirs(t)
	if len(dirs) != len(fixtureWants) {
		t.Errorf("%d fixture directories, %d expectations: keep fixtureWants in step with testdata", len(dirs), len(fixtureWants))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			wants, ok := fixtureWants[filepath.Base(dir)]
			if !ok {
				t.Fatalf("no expectation for %s", dir)
			}
			o := observeFixture(t, dir)
			if len(o.Errors) > 0 {
				t.Errorf("observation errors: %+v", o.Errors)
			}
			if len(o.USBDevices) == 0 {
				t.Error("no USB devices observed")
			}
			detectortest.GoldenJSON(t, filepath.Join(dir, "observation.json"), o)
			findings := (&Detector{}).Evaluate(o, nil, nil)
			detectortest.GoldenJSON(t, filepath.Join(dir, "findings.json"), findings)
			got := map[string]detectors.Severity{}
			for _, f := range findings {
				checkFinding(t, f)
				if f.Severity >= detectors.SeverityMedium {
					got[f.Rule] = f.Severity
				}
			}
			for rule, sev := range wants {
				if g, ok := got[rule]; !ok {
					t.Errorf("missing %s (%s)", rule, sev)
				} else if g != sev {
					t.Errorf("%s severity %s, want %s", rule, g, sev)
				}
			}
			for rule, sev := range got {
				if _, ok := wants[rule]; !ok {
					t.Errorf("unexpected %s (%s)", rule, sev)
				}
			}
		})
	}
}

// checkFinding checks the Finding contract and this detector's evidence
// promises.
func checkFinding(t *testing.T, f detectors.Finding) {
	t.Helper()
	if f.Detector != "" || !f.ObservedAt.IsZero() {
		t.Errorf("%s: detector and observed_at are the engine's to fill", f.Rule)
	}
	f.Detector = Name
	if err := f.Validate(); err != nil {
		t.Error(err)
	}
	if !slices.Contains(Rules(), f.Rule) {
		t.Errorf("%s: rule not listed by Rules()", f.Rule)
	}
	if f.Rationale == "" || f.Remediation == "" || !slices.Equal(f.MITRE, mitre) {
		t.Errorf("%s: rationale, remediation or MITRE missing", f.Rule)
	}
	switch {
	case f.Rule == RuleCorroborated:
		if len(f.Evidence["usb_rules"].([]string)) == 0 || len(f.Evidence["display_rules"].([]string)) == 0 {
			t.Errorf("%s: evidence %v lacks a side", f.Rule, f.Evidence)
		}
	case strings.HasSuffix(f.Rule, "_edid"):
		if fp, _ := f.Evidence["edid_fingerprint"].(string); len(fp) != 64 {
			t.Errorf("%s: edid_fingerprint %q", f.Rule, fp)
		}
		if _, ok := f.Evidence["edid_serial"]; !ok {
			t.Errorf("%s: no edid_serial", f.Rule)
		}
	default:
		for _, k := range []string{"usb_vendor_id", "usb_product_id", "usb_serial", "usb_location"} {
			if _, ok := f.Evidence[k]; !ok {
				t.Errorf("%s: evidence lacks %s", f.Rule, k)
			}
		}
	}
}

// TestObservedDisplays pins how each OS marks internal panels.
func TestObservedDisplays(t *testing.T) {
	t.Parallel()
	for dir, internal := range map[string]map[string]bool{
		"linux-pikvm":                 {"eDP-1": true, "HDMI-A-1": false},
		"linux-tinypilot":             {"HDMI-A-1": false}, // eDP-1 disconnected: not listed
		"linux-clean_docked_laptop":   {"eDP-1": true, "DP-1": false},
		"darwin-clean_docked_laptop":  {"AppleBacklightDisplay": true, "AppleDisplay": false},
		"windows-clean_docked_laptop": {`DISPLAY\BOE0A1D`: true, `DISPLAY\DELA0EC`: false, `DISPLAY\GSM7750`: false},
	} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			o := observeFixture(t, filepath.Join("testdata", dir))
			if len(o.Displays) != len(internal) {
				t.Fatalf("displays %+v, want %d", o.Displays, len(internal))
			}
			for _, d := range o.Displays {
				var found bool
				for prefix, want := range internal {
					if strings.HasPrefix(d.Name, prefix) {
						found = true
						if d.Internal != want {
							t.Errorf("%s internal = %v, want %v", d.Name, d.Internal, want)
						}
					}
				}
				if !found {
					t.Errorf("unexpected display %s", d.Name)
				}
				if _, err := ParseEDID(mustHex(t, d.EDID)); err != nil {
					t.Errorf("%s: %v", d.Name, err)
				}
			}
		})
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestObserveUnsupported(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		goos string
		d    *Detector
	}{
		{"plan9", &Detector{}},
		{"freebsd", &Detector{}},
		{"windows", &Detector{}}, // no SetupAPI shim in this build
	} {
		_, err := c.d.Observe(context.Background(), detectortest.EmptyHost(t, c.goos))
		if !errors.Is(err, detectors.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", c.goos, err)
		}
	}
}

// TestObserveRecordsUnreadableSources checks that a failing source is
// listed in the observation's errors, not silently dropped.
func TestObserveRecordsUnreadableSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// macOS: ioreg is not there at all.
	h := detectortest.EmptyHost(t, "darwin")
	obs, err := (&Detector{}).Observe(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	o := obs.(*Observation)
	if len(o.Errors) != 4 {
		t.Errorf("errors %+v, want one per ioreg command", o.Errors)
	}
	for _, e := range o.Errors {
		if !strings.HasPrefix(e.Source, "ioreg -a") || !strings.Contains(e.Error, "file does not exist") {
			t.Errorf("error %+v", e)
		}
	}

	// Linux: a device without idVendor, an interface without its number.
	m := fstest.MapFS{
		"sys/bus/usb/devices/1-1/product":             {Data: []byte("broken\n")},
		"sys/bus/usb/devices/1-2/idVendor":            {Data: []byte("046d\n")},
		"sys/bus/usb/devices/1-2/idProduct":           {Data: []byte("c52b\n")},
		"sys/bus/usb/devices/1-2:1.0/bInterfaceClass": {Data: []byte("03\n")},
		"sys/class/drm/card0-DP-1/edid":               {Data: []byte{}},
	}
	h = detectortest.EmptyHost(t, "linux")
	h.FS = m
	obs, err = (&Detector{}).Observe(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	o = obs.(*Observation)
	var sources []string
	for _, e := range o.Errors {
		sources = append(sources, e.Source)
	}
	for _, want := range []string{"sys/bus/usb/devices/1-1", "sys/bus/usb/devices/1-2:1.0", "sys/class/drm/card0-DP-1/status"} {
		if !slices.Contains(sources, want) {
			t.Errorf("errors %v lack %s", sources, want)
		}
	}
	if len(o.USBDevices) != 1 || o.USBDevices[0].VendorID != "046d" {
		t.Errorf("devices %+v, want the readable one", o.USBDevices)
	}

	// Windows: sources the shim could not read travel in the records.
	d := &Detector{collectWindows: func(context.Context) (*windowsRecords, error) {
		return &windowsRecords{Errors: []SourceError{{Source: "hid.dll", Error: "load hid.dll HidP_GetCaps: not found"}}}, nil
	}}
	obs, err = d.Observe(ctx, detectortest.EmptyHost(t, "windows"))
	if err != nil {
		t.Fatal(err)
	}
	if o := obs.(*Observation); len(o.Errors) != 1 || o.Errors[0].Source != "hid.dll" {
		t.Errorf("windows errors %+v", o.Errors)
	}
}

func TestObserveCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join("testdata", "linux-pikvm")
	if _, err := (&Detector{}).Observe(ctx, fixtureHost(t, "linux", dir)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	info, ok := detectors.Lookup(Name)
	if !ok {
		t.Fatal("kvm is not registered")
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		if !info.Supports(goos) {
			t.Errorf("does not support %s", goos)
		}
	}
	if info.New().Name() != Name {
		t.Error("New returns a detector with another name")
	}
}

// TestDocListsRules keeps the package documentation's rule table complete.
func TestDocListsRules(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(string(doc), r) {
			t.Errorf("doc.go does not list %s", r)
		}
	}
}

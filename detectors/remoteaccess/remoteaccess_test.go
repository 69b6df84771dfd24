package remoteaccess

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// recordedNative replays the Windows API data of a fixture (native.json),
// recorded on a real machine by the same code that runs under Wine in CI.
type recordedNative struct {
	Svcs  []Service  `json:"services"`
	Sw    []Software `json:"software"`
	Feats []Feature  `json:"features"`
	Sess  []Session  `json:"sessions"`
}

func (r recordedNative) Services(context.Context) ([]Service, error)  { return r.Svcs, nil }
func (r recordedNative) Software(context.Context) ([]Software, error) { return r.Sw, nil }
func (r recordedNative) Features(context.Context) ([]Feature, error)  { return r.Feats, nil }
func (r recordedNative) Sessions(context.Context) ([]Session, error)  { return r.Sess, nil }

// fixtureDetector returns the detector and fake host of a fixture.
func fixtureDetector(t *testing.T, dir string) (*detector, *detectors.Host) {
	t.Helper()
	goos, _, _ := strings.Cut(filepath.Base(dir), "-")
	d := New(DefaultCatalogue()).(*detector)
	if data, err := os.ReadFile(filepath.Join(dir, "native.json")); err == nil {
		var rn recordedNative
		if err := json.Unmarshal(data, &rn); err != nil {
			t.Fatalf("%s/native.json: %v", dir, err)
		}
		d.native = rn
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return d, detectortest.Host(t, goos, dir)
}

// fixtures lists every fixture with the rules it must raise at medium or
// above (exactly these) and a severity floor for some of them.
var fixtures = []struct {
	dir       string
	rules     []string
	severity  map[string]detectors.Severity
	wantTools []string // tools that must appear in some finding's evidence
}{
	{dir: "windows-anydesk-service", rules: []string{RuleUnattended},
		severity: map[string]detectors.Severity{RuleUnattended: detectors.SeverityHigh}, wantTools: []string{"anydesk"}},
	{dir: "windows-honeypot-crd-pin", rules: []string{RuleCRDUnattendedPIN, RuleMultipleTools, RuleUnattended, RuleRunning},
		severity:  map[string]detectors.Severity{RuleCRDUnattendedPIN: detectors.SeverityCritical, RuleMultipleTools: detectors.SeverityCritical},
		wantTools: []string{"anydesk", "chrome_remote_desktop"}},
	{dir: "windows-rdp-in-use", rules: []string{RuleOSRemoteInUse},
		severity: map[string]detectors.Severity{RuleOSRemoteInUse: detectors.SeverityHigh}},
	{dir: "windows-clean"},
	{dir: "darwin-teamviewer", rules: []string{RuleUnattended, RuleOSRemoteInUse},
		severity: map[string]detectors.Severity{RuleUnattended: detectors.SeverityHigh}, wantTools: []string{"teamviewer"}},
	{dir: "darwin-clean"},
	{dir: "linux-rustdesk-xrdp", rules: []string{RuleUnattended, RuleMultipleTools, RuleCRDUnattendedPIN, RuleOSRemoteInUse},
		wantTools: []string{"rustdesk", "xrdp", "chrome_remote_desktop"}},
	{dir: "linux-clean"},
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, fx := range fixtures {
		seen[fx.dir] = true
		t.Run(fx.dir, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", fx.dir)
			d, h := fixtureDetector(t, dir)
			obs, err := d.Observe(t.Context(), h)
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			detectortest.GoldenJSON(t, filepath.Join(dir, "observation.json"), obs)

			// The golden observation must decode back to the same value,
			// as it does when read from a snapshot.
			raw, _ := json.Marshal(obs)
			back, err := d.DecodeObservation(raw)
			if err != nil {
				t.Fatalf("DecodeObservation: %v", err)
			}
			findings := append([]detectors.Finding{}, d.Evaluate(back, nil, nil)...)
			for i := range findings {
				findings[i].Detector = Name
				if err := findings[i].Validate(); err != nil {
					t.Errorf("invalid finding: %v", err)
				}
			}
			detectors.SortFindings(findings)
			detectortest.GoldenJSON(t, filepath.Join(dir, "findings.json"), findings)

			var got []string
			for _, f := range findings {
				if f.Severity >= detectors.SeverityMedium && !slices.Contains(got, f.Rule) {
					got = append(got, f.Rule)
				}
				if min, ok := fx.severity[f.Rule]; ok && f.Severity < min {
					t.Errorf("%s: severity %s, want at least %s", f.Rule, f.Severity, min)
				}
			}
			slices.Sort(got)
			want := slices.Clone(fx.rules)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rules at medium or above = %v, want %v", got, want)
			}
			for _, tool := range fx.wantTools {
				found := false
				for _, f := range findings {
					if f.Evidence["tool"] == tool || slices.Contains(anyStrings(f.Evidence["tools"]), tool) {
						found = true
					}
				}
				if !found {
					t.Errorf("no finding names tool %s", tool)
				}
			}
		})
	}
	for _, dir := range detectortest.Dirs(t, "") {
		if base := filepath.Base(dir); !seen[base] && base != "snapshots" {
			t.Errorf("fixture %s has no expectations in the fixtures table", dir)
		}
	}
}

func anyStrings(v any) []string {
	s, _ := v.([]string)
	return s
}

func TestSanctionedToolIsInfo(t *testing.T) {
	t.Parallel()
	d, h := fixtureDetector(t, filepath.Join("testdata", "windows-anydesk-service"))
	obs, err := d.Observe(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		policy string
		want   string
	}{
		{"by id", `{"sanctioned":[{"tool":"anydesk","reason":"IT helpdesk"}]}`, RuleSanctioned},
		{"by id and path", `{"sanctioned":[{"tool":"anydesk","paths":["C:\\Program Files (x86)\\AnyDesk"]}]}`, RuleSanctioned},
		{"path elsewhere", `{"sanctioned":[{"tool":"anydesk","paths":["C:/Program Files/AnyDesk"]}]}`, RuleUnattended},
		{"by publisher", `{"sanctioned":[{"tool":"anydesk","publishers":["AnyDesk Software GmbH"]}]}`, RuleSanctioned},
		{"wrong publisher", `{"sanctioned":[{"tool":"anydesk","publishers":["Someone Else"]}]}`, RuleUnattended},
		{"other tool", `{"sanctioned":[{"tool":"teamviewer"}]}`, RuleUnattended},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pol, err := d.DecodePolicy(json.RawMessage(c.policy))
			if err != nil {
				t.Fatal(err)
			}
			fs := d.Evaluate(obs, nil, pol)
			if len(fs) != 1 || fs[0].Rule != c.want {
				t.Fatalf("findings %v, want one %s", rules(fs), c.want)
			}
			if c.want == RuleSanctioned && fs[0].Severity != detectors.SeverityInfo {
				t.Errorf("sanctioned severity %s, want info", fs[0].Severity)
			}
		})
	}
}

func TestOSRemoteDesktopAllowed(t *testing.T) {
	t.Parallel()
	d, h := fixtureDetector(t, filepath.Join("testdata", "windows-rdp-in-use"))
	obs, err := d.Observe(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := d.DecodePolicy(json.RawMessage(`{"os_remote_desktop_allowed": true}`))
	if err != nil {
		t.Fatal(err)
	}
	fs := d.Evaluate(obs, nil, pol)
	if len(fs) != 2 {
		t.Fatalf("findings %v, want enabled and in-use", rules(fs))
	}
	for _, f := range fs {
		if f.Severity != detectors.SeverityInfo {
			t.Errorf("%s at %s with the OS remote desktop allowed, want info", f.Rule, f.Severity)
		}
	}
}

func TestDecodePolicyRejects(t *testing.T) {
	t.Parallel()
	d := New(DefaultCatalogue())
	for _, raw := range []string{
		`{"sanctioned":[{"tool":"not-a-tool"}]}`,
		`{"sanctioned":[{"tool":"anydesk","signer":"x"}]}`,
		`{"sanction":[]}`,
		`[1,2]`,
	} {
		if _, err := d.DecodePolicy(json.RawMessage(raw)); err == nil {
			t.Errorf("DecodePolicy(%s) accepted", raw)
		}
	}
	if p, err := d.DecodePolicy(nil); err != nil || p == nil {
		t.Errorf("DecodePolicy(nil) = %v, %v; want the default policy", p, err)
	}
}

func TestDecodeObservationSchema(t *testing.T) {
	t.Parallel()
	d := New(DefaultCatalogue())
	if _, err := d.DecodeObservation(json.RawMessage(`{"schema":"remoteaccess/v2"}`)); err == nil {
		t.Error("accepted another schema version")
	}
	if _, err := d.DecodeObservation(json.RawMessage(`{"processes": 3}`)); err == nil {
		t.Error("accepted processes of the wrong type")
	}
	// The contract's own example has no schema field and must decode.
	o, err := d.DecodeObservation(json.RawMessage(`{"processes":[{"pid":900,"ppid":1,"name":"AnyDesk.exe"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	fs := d.Evaluate(o, nil, nil)
	if len(fs) != 1 || fs[0].Rule != RuleRunning || fs[0].Evidence["tool"] != "anydesk" {
		t.Errorf("findings %v, want anydesk running", rules(fs))
	}
}

func TestObserveUnsupportedOS(t *testing.T) {
	t.Parallel()
	d := New(DefaultCatalogue())
	h := detectortest.EmptyHost(t, "plan9")
	if _, err := d.Observe(t.Context(), h); !errors.Is(err, detectors.ErrUnsupported) {
		t.Errorf("Observe on plan9: %v, want ErrUnsupported", err)
	}
}

func rules(fs []detectors.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule+"/"+f.Severity.String())
	}
	return out
}

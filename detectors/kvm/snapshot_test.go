package kvm

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// snapshotCases maps each testdata/snapshots/<case>.json to the fixture
// host it is the snapshot of. The snapshots are regenerated with -update;
// the .rules files next to them are written by hand: one rule id per line
// that `farmwatch scan --snapshot <case>.json --json --detectors kvm` must
// report at medium or above, and no other.
var snapshotCases = map[string]struct{ fixture, arch, hostname string }{
	"pikvm":                       {"linux-pikvm", "amd64", "LT-0042"},
	"tinypilot":                   {"linux-tinypilot", "amd64", "LT-0117"},
	"nanokvm":                     {"linux-nanokvm", "amd64", "LT-0203"},
	"capture_stick_ms2109":        {"linux-capture_stick_ms2109", "amd64", "LT-0311"},
	"jetkvm_spoofed_logitech":     {"darwin-jetkvm_spoofed_logitech", "arm64", "MBP-0588"},
	"glinet_comet":                {"windows-glinet_comet", "amd64", "LT-0764"},
	"glinet_comet_darwin":         {"darwin-glinet_comet", "arm64", "MBP-0765"},
	"clean_docked_laptop":         {"linux-clean_docked_laptop", "amd64", "LT-0001"},
	"clean_docked_laptop_darwin":  {"darwin-clean_docked_laptop", "amd64", "MBP-0002"},
	"clean_docked_laptop_windows": {"windows-clean_docked_laptop", "amd64", "LT-0003"},
}

func TestSnapshots(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "snapshots")
	entries, err := os.ReadDir(dir)
	if err != nil && !*detectortest.Update {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			if _, known := snapshotCases[name]; !known {
				t.Errorf("%s has no entry in snapshotCases", e.Name())
			}
		}
	}
	for name, c := range snapshotCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			goos, _, _ := strings.Cut(c.fixture, "-")
			o := observeFixture(t, filepath.Join("testdata", c.fixture))
			snap, err := detectors.NewSnapshot(detectors.HostInfo{OS: goos, Arch: c.arch, Hostname: c.hostname, CollectedAt: detectortest.FixedTime},
				map[string]detectors.Observation{Name: o})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name+".json")
			detectortest.GoldenJSON(t, path, snap)

			// Evaluate the file as `farmwatch scan --snapshot` does.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := detectors.ParseSnapshot(data)
			if err != nil {
				t.Fatal(err)
			}
			d := New()
			obs, err := d.DecodeObservation(s.Observations[Name])
			if err != nil {
				t.Fatal(err)
			}
			pol, err := d.DecodePolicy(nil)
			if err != nil {
				t.Fatal(err)
			}
			e := &detectors.Engine{Detectors: []detectors.Detector{d}, Policies: map[string]detectors.Policy{Name: pol}}
			findings, failed := e.Evaluate(map[string]detectors.Observation{Name: obs}, nil, s.Host.CollectedAt)
			if len(failed) > 0 {
				t.Fatalf("evaluate failed: %+v", failed)
			}
			var got []string
			for _, f := range findings {
				if err := f.Validate(); err != nil {
					t.Error(err)
				}
				if f.Severity >= detectors.SeverityMedium {
					got = append(got, f.Rule)
				}
			}
			want := readRules(t, filepath.Join(dir, name+".rules"))
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("rules at medium or above %v, %s.rules lists %v", got, name, want)
			}
		})
	}
}

// readRules reads a .rules file: one rule id per line, sorted here.
func readRules(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rules := []string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			if !slices.Contains(Rules(), line) {
				t.Errorf("%s: unknown rule %q", path, line)
			}
			rules = append(rules, line)
		}
	}
	sort.Strings(rules)
	return rules
}

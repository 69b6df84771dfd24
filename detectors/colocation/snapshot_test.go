package colocation

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// TestSnapshots keeps testdata/snapshots (run through the farmwatch binary
// by agent/cmd/farmwatch's end-to-end test) in step with the fixtures,
// and checks their .rules files: the rules at medium or above.
func TestSnapshots(t *testing.T) {
	t.Parallel()
	for name, dir := range map[string]string{"farm_pikvm_jetkvm": "linux-farm_pikvm_jetkvm", "clean_vm": "linux-clean_vm"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, h, pol := fixture(t, filepath.Join("testdata", dir))
			obs, err := d.ObserveWith(context.Background(), h, pol)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := detectors.NewSnapshot(detectors.HostInfo{OS: "linux", Arch: "amd64", Hostname: "LT-0042", CollectedAt: detectortest.FixedTime},
				map[string]detectors.Observation{Name: obs})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "snapshots", name+".json")
			detectortest.GoldenJSON(t, path, snap)
			// The binary evaluates with the default policy.
			o, err := d.DecodeObservation(snap.Observations[Name])
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range evaluate(o.(*Observation), DefaultPolicy()) {
				if f.Severity >= detectors.SeverityMedium && !slices.Contains(got, f.Rule) {
					got = append(got, f.Rule)
				}
			}
			slices.Sort(got)
			data, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".rules")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Fields(string(data))
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rules %v, %s.rules says %v", got, name, want)
			}
			var back detectors.Snapshot
			raw, _ := json.Marshal(snap)
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
		})
	}
}

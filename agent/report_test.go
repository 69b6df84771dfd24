package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

// TestReportGolden renders the scan report of recorded snapshots; the
// goldens are what a person sees (regenerate with -update).
func TestReportGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"windows-honeypot-crd-pin", "windows-clean"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join("..", "detectors", "remoteaccess", "testdata", "snapshots", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			snap, err := detectors.ReadSnapshot(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := &Scanner{Config: DefaultConfig("linux", os.Getenv), Only: []string{"remoteaccess"}}
			res, err := sc.ScanSnapshot(snap)
			if err != nil {
				t.Fatal(err)
			}
			for i := range res.Detectors {
				res.Detectors[i].DurationMS = 0 // not reproducible
			}
			var buf bytes.Buffer
			if err := WriteReport(&buf, res); err != nil {
				t.Fatal(err)
			}
			detectortest.Golden(t, filepath.Join("testdata", "report-"+name+".txt"), buf.Bytes())
			if name == "windows-clean" && !bytes.Contains(buf.Bytes(), []byte("Nothing unusual found.")) {
				t.Error("a clean laptop's report does not say so")
			}
		})
	}
}

func TestScanSnapshotNoData(t *testing.T) {
	t.Parallel()
	snap, err := detectors.ParseSnapshot([]byte(`{"schema":"farmwatch.snapshot/v1","host":{"os":"linux"},"observations":{"future_detector":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Scanner{Config: DefaultConfig("linux", os.Getenv)}).ScanSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 0 || len(res.Detectors) == 0 {
		t.Fatalf("result %+v", res)
	}
	for _, d := range res.Detectors {
		if d.Status != detectors.StatusNoData {
			t.Errorf("%s: status %s, want no_data", d.Name, d.Status)
		}
	}
}

package detectors

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseSnapshot(t *testing.T) {
	t.Parallel()
	good := `{"schema":"farmwatch.snapshot/v1","host":{"os":"windows","arch":"amd64","hostname":"LT-0042","collected_at":"2026-11-20T10:00:00Z"},"observations":{"kvm":{"usb_devices":[]}}}`
	s, err := ParseSnapshot([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Host.Hostname != "LT-0042" || !s.Host.CollectedAt.Equal(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)) || len(s.Observations) != 1 {
		t.Errorf("parsed %+v", s)
	}
	bad := map[string]string{
		"empty":              "",
		"not json":           "hello",
		"truncated":          good[:40],
		"trailing":           good + "{}",
		"no schema":          `{"observations":{}}`,
		"unknown schema":     `{"schema":"farmwatch.snapshot/v2","observations":{}}`,
		"no observations":    `{"schema":"farmwatch.snapshot/v1","host":{}}`,
		"observation array":  `{"schema":"farmwatch.snapshot/v1","observations":{"kvm":[1]}}`,
		"wrong type of host": `{"schema":"farmwatch.snapshot/v1","host":"x","observations":{}}`,
	}
	for name, doc := range bad {
		if _, err := ParseSnapshot([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "snapshot") {
			t.Errorf("%s: error %q does not say it is about the snapshot", name, err)
		}
	}
}

func TestNewSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	host := HostInfo{OS: "linux", Arch: "arm64", Hostname: "h", CollectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := NewSnapshot(host, map[string]Observation{"fake": &fakeObs{Schema: "fake/v1", N: 7}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	back, err := ParseSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	var o fakeObs
	if err := json.Unmarshal(back.Observations["fake"], &o); err != nil || o.N != 7 || back.Host != host {
		t.Errorf("round trip lost data: %+v %+v", back, o)
	}
}

func FuzzParseSnapshot(f *testing.F) {
	f.Add([]byte(`{"schema":"farmwatch.snapshot/v1","host":{"os":"linux"},"observations":{"kvm":{}}}`))
	f.Add([]byte(`{"schema":"farmwatch.snapshot/v1","observations":{"a":{"b":[1,2,{"c":null}]}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSnapshot(data)
		if err != nil {
			return
		}
		if s.Schema != SnapshotSchema || s.Observations == nil {
			t.Fatalf("accepted an invalid snapshot: %+v", s)
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("accepted snapshot does not re-encode: %v", err)
		}
	})
}

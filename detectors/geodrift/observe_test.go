package geodrift

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/detectortest"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

func errorSources(o *Observation) []string {
	var s []string
	for _, e := range o.Errors {
		s = append(s, e.Source+": "+e.Error)
	}
	return s
}

func TestObserveUnsupportedOS(t *testing.T) {
	t.Parallel()
	_, err := New().Observe(t.Context(), detectortest.EmptyHost(t, "plan9"))
	if !errors.Is(err, detectors.ErrUnsupported) {
		t.Errorf("err %v, want ErrUnsupported", err)
	}
}

func TestObserveLinuxTimeZoneSources(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		fs       fstest.MapFS
		zone     string
		errorHas string
	}{
		{name: "link wins over /etc/timezone", zone: "Europe/Paris", fs: detectortest.ParseFS([]byte(
			"-- etc/localtime -> ../usr/share/zoneinfo/Europe/Paris --\n-- etc/timezone --\nAsia/Tokyo\n"))},
		{name: "copied zone file without /etc/timezone", errorHas: "not a link", fs: detectortest.ParseFS([]byte(
			"-- etc/localtime --\nTZif2\n"))},
		{name: "nothing at all", errorHas: "time zone /etc/localtime", fs: fstest.MapFS{}},
		{name: "garbage in /etc/timezone", errorHas: "time zone /etc/timezone", fs: detectortest.ParseFS([]byte(
			"-- etc/timezone --\n../../etc/shadow\n"))},
		{name: "link outside zoneinfo", errorHas: "zoneinfo", fs: detectortest.ParseFS([]byte(
			"-- etc/localtime -> /opt/zones/custom --\n"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := detectortest.EmptyHost(t, "linux")
			h.FS = tt.fs
			d := New().(*detector)
			d.network = recordedNetwork{}
			obs, err := d.Observe(t.Context(), h)
			o := obs.(*Observation)
			if o.TimeZone.Name != tt.zone {
				t.Errorf("zone %q, want %q", o.TimeZone.Name, tt.zone)
			}
			if tt.errorHas == "" {
				if err != nil {
					t.Errorf("Observe: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(strings.Join(errorSources(o), "\n"), tt.errorHas) {
				t.Errorf("errors %v (%v), want one about %q", errorSources(o), err, tt.errorHas)
			}
		})
	}
}

// failingNative fails every Windows call, as a locked-down host would.
type failingNative struct{}

var errDenied = errors.New("access is denied")

func (failingNative) TimeZoneKeyName(context.Context) (string, error) { return "", errDenied }
func (failingNative) Locale(context.Context) (string, string, error)  { return "", "", errDenied }
func (failingNative) KeyboardLayouts(context.Context) ([]KLID, error) { return nil, errDenied }

// failingNetwork fails every network read.
type failingNetwork struct{}

func (failingNetwork) Tunnels(context.Context, *detectors.Host) ([]Tunnel, error) {
	return nil, errDenied
}
func (failingNetwork) Gateway(context.Context, *detectors.Host) (Network, error) {
	return Network{}, errDenied
}
func (failingNetwork) BSSIDs(context.Context, *detectors.Host) ([]string, string, error) {
	return nil, "", errDenied
}

func TestObserveRecordsEveryUnreadableSource(t *testing.T) {
	t.Parallel()
	d := New().(*detector)
	d.native = failingNative{}
	d.network = failingNetwork{}
	d.winSoftware = func(context.Context) ([]inventory.Software, error) { return nil, errDenied }
	h := detectortest.EmptyHost(t, "windows")
	h.Proc = nil
	obs, err := d.Observe(t.Context(), h)
	if err == nil || obs == nil {
		t.Fatalf("Observe = %v, %v; want a partial observation and an error", obs, err)
	}
	got := strings.Join(errorSources(obs.(*Observation)), "\n")
	for _, src := range []string{"time zone registry", "locale", "keyboard layouts", "interfaces", "default gateway", "wifi", "processes", "uninstall_keys"} {
		if !strings.Contains(got, src+":") {
			t.Errorf("no error for %s in\n%s", src, got)
		}
	}
}

func TestObserveUnmappedWindowsZone(t *testing.T) {
	t.Parallel()
	d, h, _ := fixtureDetector(t, filepath.Join("testdata", "windows-clean"))
	rn := d.native.(recordedNative)
	rn.TZKey = "Mid-Atlantic Standard Time"
	d.native = rn
	obs, err := d.Observe(t.Context(), h)
	o := obs.(*Observation)
	if o.TimeZone.Name != "" || o.TimeZone.WindowsName != "Mid-Atlantic Standard Time" || err == nil {
		t.Errorf("time zone %+v, err %v: want the Windows name kept, no IANA name, and an error", o.TimeZone, err)
	}
}

func TestObserveHonoursCancelledContext(t *testing.T) {
	t.Parallel()
	d, h, _ := fixtureDetector(t, filepath.Join("testdata", "linux-astrill"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := d.Observe(ctx, h); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// BenchmarkObserveLocal measures Observe without the network part (no
// landmarks, recorded network facts) on the Astrill fixtures: time zone,
// locale, keyboard, the process table, installed software and install
// paths matched against the catalogue.
func BenchmarkObserveLocal(b *testing.B) {
	for _, fx := range []string{"linux-astrill", "windows-astrill", "darwin-nordvpn-tailscale"} {
		b.Run(fx, func(b *testing.B) {
			d, h, pol := fixtureDetector(b, filepath.Join("testdata", fx))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				o := d.observeLocal(ctx, h, pol.catalogue())
				if len(o.VPNClients) == 0 {
					b.Fatal("no VPN client found")
				}
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	d, h, pol := fixtureDetector(b, filepath.Join("testdata", "linux-astrill"))
	obs, _ := d.ObserveWith(context.Background(), h, pol)
	b.ReportAllocs()
	for b.Loop() {
		if fs := d.Evaluate(obs, nil, pol); len(fs) != 2 {
			b.Fatalf("%d findings", len(fs))
		}
	}
}

package agent

import (
	"errors"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
)

// fakeSources is a host whose clocks and fingerprints the test moves.
type fakeSources struct {
	wall     time.Time
	mono     time.Duration
	net, dev string
	netErr   error
}

func (f *fakeSources) watch() *triggerWatch {
	return &triggerWatch{
		Wall:    func() time.Time { return f.wall },
		Mono:    func() time.Duration { return f.mono },
		Network: func() (string, error) { return f.net, f.netErr },
		Devices: func() (string, error) { return f.dev, nil },
		Log:     zap.NewNop(),
	}
}

// advance moves both clocks by d while awake.
func (f *fakeSources) advance(d time.Duration) { f.wall, f.mono = f.wall.Add(d), f.mono+d }

func reasons(ts []Trigger) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Reason)
	}
	return out
}

func TestTriggerWatch(t *testing.T) {
	t.Parallel()
	f := &fakeSources{wall: t0, net: "n1", dev: "d1"}
	w := f.watch()
	if got := w.poll(); got != nil {
		t.Fatalf("first poll (baseline) fired %v", reasons(got))
	}
	steps := []struct {
		name string
		move func()
		want []string
	}{
		{"nothing changed", func() { f.advance(30 * time.Second) }, nil},
		{"slow poll is not a sleep", func() { f.advance(3 * time.Minute) }, nil},
		{"wake: wall ran 20 min, monotonic 30 s", func() { f.wall = f.wall.Add(20 * time.Minute); f.mono += 30 * time.Second }, []string{TriggerWake}},
		{"clock set back is not a wake", func() { f.wall = f.wall.Add(-10 * time.Minute); f.mono += 30 * time.Second }, nil},
		{"network changed", func() { f.advance(30 * time.Second); f.net = "n2" }, []string{TriggerNetwork}},
		{"network unreadable keeps the last value", func() { f.advance(30 * time.Second); f.netErr = errors.New("netlink busy") }, nil},
		{"network readable again and unchanged", func() { f.advance(30 * time.Second); f.netErr = nil }, nil},
		{"wake with a new network and a new display", func() {
			f.wall = f.wall.Add(8 * time.Hour)
			f.mono += 30 * time.Second
			f.net, f.dev = "n3", "d2"
		}, []string{TriggerWake, TriggerNetwork, TriggerDevices}},
	}
	for _, st := range steps {
		st.move()
		if got := reasons(w.poll()); !slices.Equal(got, st.want) {
			t.Fatalf("%s: triggers %v, want %v", st.name, got, st.want)
		}
	}
}

func TestTriggerDetectors(t *testing.T) {
	t.Parallel()
	f := &fakeSources{wall: t0, net: "a", dev: "x"}
	w := f.watch()
	w.poll()
	f.advance(30 * time.Second)
	f.net, f.dev = "b", "y"
	got := w.poll()
	if len(got) != 2 || !slices.Equal(got[0].Detectors, networkDetectors) || !slices.Equal(got[1].Detectors, deviceDetectors) {
		t.Fatalf("triggers %+v", got)
	}
}

// TestDeviceFingerprint reads a recorded sysfs layout: a USB device
// appearing and a display connector's status changing change the
// fingerprint; a reordering does not.
func TestDeviceFingerprint(t *testing.T) {
	t.Parallel()
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"sys/bus/usb/devices/usb1":                  {Mode: 0o555 | 1<<31},
			"sys/bus/usb/devices/1-0:1.0":               {Mode: 0o555 | 1<<31},
			"sys/bus/usb/devices/1-2":                   {Mode: 0o555 | 1<<31},
			"sys/class/drm/card0-eDP-1/status":          {Data: []byte("connected\n")},
			"sys/class/drm/card0-HDMI-A-1/status":       {Data: []byte("disconnected\n")},
			"sys/class/drm/card0/dev":                   {Data: []byte("226:0\n")},
			"sys/class/drm/renderD128/dev":              {Data: []byte("226:128\n")},
			"sys/class/drm/card0-DP-1/enabled":          {Data: []byte("disabled\n")},
			"sys/bus/usb/devices/1-2:1.0/bInterfaceNum": {Data: []byte("00\n")},
		}
	}
	fp := func(m fstest.MapFS) string {
		t.Helper()
		s, err := deviceFingerprint(m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ref := fp(base())
	if ref != fp(base()) {
		t.Fatal("fingerprint not stable")
	}
	plugged := base()
	plugged["sys/bus/usb/devices/1-3"] = &fstest.MapFile{Mode: 0o555 | 1<<31}
	hdmi := base()
	hdmi["sys/class/drm/card0-HDMI-A-1/status"] = &fstest.MapFile{Data: []byte("connected\n")}
	for name, m := range map[string]fstest.MapFS{"usb device plugged": plugged, "HDMI connected": hdmi} {
		if fp(m) == ref {
			t.Errorf("%s: fingerprint unchanged", name)
		}
	}
	if _, err := deviceFingerprint(fstest.MapFS{}); err != nil {
		t.Errorf("a host without USB or DRM: %v", err)
	}
}

func TestNetworkFingerprintLines(t *testing.T) {
	t.Parallel()
	a := fingerprint([]string{interfaceLine("eth0", "aa:bb", []string{"10.0.0.2/24", "fe80::1/64"}), interfaceLine("wlan0", "cc:dd", nil)})
	b := fingerprint([]string{interfaceLine("wlan0", "cc:dd", nil), interfaceLine("eth0", "aa:bb", []string{"fe80::1/64", "10.0.0.2/24"})})
	c := fingerprint([]string{interfaceLine("eth0", "aa:bb", []string{"10.0.0.3/24", "fe80::1/64"}), interfaceLine("wlan0", "cc:dd", nil)})
	if a != b {
		t.Error("order changed the fingerprint")
	}
	if a == c {
		t.Error("a new address did not change the fingerprint")
	}
	if _, err := networkFingerprint(); err != nil {
		t.Errorf("this host's interfaces: %v", err)
	}
}

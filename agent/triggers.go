package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// wakeSlack is how far the wall clock may run ahead of the monotonic clock
// between two polls before the difference counts as a sleep (or a clock
// step, which also deserves a fresh look).
const wakeSlack = time.Minute

// Detectors re-checked on a network or device change; a wake re-checks all.
var (
	networkDetectors = []string{"colocation", "geodrift"}
	deviceDetectors  = []string{"kvm"}
)

// triggerWatch polls cheap, portable signals that the laptop's situation
// changed and turns them into Triggers:
//   - wake from sleep: the wall clock advanced more than the monotonic
//     clock (which stops while the machine sleeps on Linux, macOS and
//     Windows alike);
//   - network change: a fingerprint of the interfaces that are up and
//     their addresses changed;
//   - USB/display change (Linux): the names under /sys/bus/usb/devices or
//     a /sys/class/drm/*/status changed. Elsewhere Devices is nil and only
//     the schedule applies.
type triggerWatch struct {
	// Wall is the wall clock without its monotonic reading; Mono the time
	// elapsed on the monotonic clock since some fixed start.
	Wall func() time.Time
	Mono func() time.Duration
	// Network and Devices return fingerprints; nil turns a source off.
	Network func() (string, error)
	Devices func() (string, error)
	Log     *zap.Logger

	started          bool
	wall             time.Time
	mono             time.Duration
	network, devices string
}

// newTriggerWatch watches the real host.
func newTriggerWatch(log *zap.Logger) *triggerWatch {
	start := time.Now()
	w := &triggerWatch{
		Wall:    func() time.Time { return time.Now().Round(0) },
		Mono:    func() time.Duration { return time.Since(start) },
		Network: networkFingerprint,
		Log:     log,
	}
	if runtime.GOOS == "linux" {
		root := os.DirFS("/")
		w.Devices = func() (string, error) { return deviceFingerprint(root) }
	}
	return w
}

// poll samples every source and returns the triggers for what changed
// since the previous poll. The first poll only takes the baseline.
func (w *triggerWatch) poll() []Trigger {
	wall, mono := w.Wall(), w.Mono()
	net := w.sample("network", w.Network, w.network)
	dev := w.sample("devices", w.Devices, w.devices)
	defer func() { w.started, w.wall, w.mono, w.network, w.devices = true, wall, mono, net, dev }()
	if !w.started {
		return nil
	}
	var out []Trigger
	if slept := wall.Sub(w.wall) - (mono - w.mono); slept > wakeSlack {
		w.Log.Info("woke from sleep (or the clock was set); checking again", zap.Duration("asleep", slept.Round(time.Second)))
		out = append(out, Trigger{Reason: TriggerWake})
	}
	if net != w.network {
		w.Log.Info("network changed; checking again")
		out = append(out, Trigger{Reason: TriggerNetwork, Detectors: networkDetectors})
	}
	if dev != w.devices {
		w.Log.Info("USB devices or displays changed; checking again")
		out = append(out, Trigger{Reason: TriggerDevices, Detectors: deviceDetectors})
	}
	return out
}

// sample reads one fingerprint; on failure it keeps the previous value so
// a transient error is not taken for a change.
func (w *triggerWatch) sample(name string, f func() (string, error), prev string) string {
	if f == nil {
		return ""
	}
	v, err := f()
	if err != nil {
		w.Log.Debug("trigger source unreadable", zap.String("source", name), zap.Error(err))
		return prev
	}
	return v
}

// run polls every interval (through after) until ctx ends and hands each
// trigger to send.
func (w *triggerWatch) run(ctx context.Context, interval time.Duration, after func(time.Duration) <-chan time.Time, send func(Trigger)) {
	for {
		for _, t := range w.poll() {
			send(t)
		}
		select {
		case <-ctx.Done():
			return
		case <-after(interval):
		}
	}
}

// networkFingerprint hashes the interfaces that are up (loopback aside)
// with their addresses.
func networkFingerprint() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	var lines []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return "", fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		as := make([]string, 0, len(addrs))
		for _, a := range addrs {
			as = append(as, a.String())
		}
		lines = append(lines, interfaceLine(ifc.Name, ifc.HardwareAddr.String(), as))
	}
	return fingerprint(lines), nil
}

func interfaceLine(name, mac string, addrs []string) string {
	sort.Strings(addrs)
	return name + " " + mac + " " + strings.Join(addrs, ",")
}

// fingerprint is a short stable hash of lines in any order.
func fingerprint(lines []string) string {
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}

// deviceFingerprint hashes the USB device names and the connection status
// of every display connector of a Linux sysfs under root (slash paths,
// unrooted: "sys/bus/usb/devices").
func deviceFingerprint(root fs.FS) (string, error) {
	var lines []string
	usb, err := fs.ReadDir(root, "sys/bus/usb/devices")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read usb devices: %w", err)
	}
	for _, e := range usb {
		lines = append(lines, "usb "+e.Name())
	}
	status, err := fs.Glob(root, "sys/class/drm/*/status")
	if err != nil {
		return "", fmt.Errorf("list display connectors: %w", err)
	}
	for _, p := range status {
		b, err := fs.ReadFile(root, p)
		if err != nil {
			continue // the connector went away between listing and reading
		}
		lines = append(lines, "drm "+path.Base(path.Dir(p))+" "+strings.TrimSpace(string(b)))
	}
	return fingerprint(lines), nil
}

package remoteaccess

// macOS sources: launchd job plists, app bundles, Screen Sharing and
// Remote Management state. Plain Go on purpose (see linuxhost.go).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"howett.net/plist"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

var launchdDirs = []string{"Library/LaunchDaemons", "Library/LaunchAgents", "Users/*/Library/LaunchAgents"}

func observeDarwin(ctx context.Context, h *detectors.Host, o *Observation) {
	out, err := h.Exec.Run(ctx, "launchctl", "list")
	if err != nil {
		o.addError("launchctl list", err)
	}
	running := parseLaunchctlList(out)
	for _, dir := range launchdDirs {
		files, _ := fs.Glob(h.FS, dir+"/*.plist")
		for _, f := range files {
			data, err := fs.ReadFile(h.FS, f)
			if err != nil {
				o.addError("launchd "+f, err)
				continue
			}
			job, err := parseLaunchdPlist(data)
			if err != nil {
				o.addError("launchd "+f, err)
				continue
			}
			s := Service{Name: job.Label, Path: job.program(), Kind: "launchd", State: "stopped", StartMode: "manual"}
			if job.Label == "" {
				s.Name = strings.TrimSuffix(path.Base(f), ".plist")
			}
			if job.RunAtLoad || job.keepAlive() {
				s.StartMode = "auto"
			}
			if job.Disabled {
				s.StartMode = "disabled"
			}
			if strings.Contains(f, "LaunchAgents") {
				s.User = "(per user)"
			}
			if pid, ok := running[s.Name]; ok {
				s.State = "running"
				if pid == 0 {
					s.State = "stopped"
				}
			} else if out == nil {
				s.State = "unknown"
			}
			o.Services = append(o.Services, s)
		}
	}
	sort.Slice(o.Services, func(i, j int) bool { return o.Services[i].Name < o.Services[j].Name })

	apps, errs := inventory.AppBundles(h.FS)
	o.Software = append(o.Software, apps...)
	o.Errors = append(o.Errors, errs...)

	disabled, err := h.Exec.Run(ctx, "launchctl", "print-disabled", "system")
	if err != nil {
		o.addError("launchctl print-disabled", err)
	}
	o.Features = append(o.Features, darwinFeatures(h.FS, parseLaunchctlDisabled(disabled), running)...)
}

// launchdJob is what farmwatch reads of a launchd plist.
type launchdJob struct {
	Label            string   `plist:"Label"`
	Program          string   `plist:"Program"`
	ProgramArguments []string `plist:"ProgramArguments"`
	RunAtLoad        bool     `plist:"RunAtLoad"`
	KeepAlive        any      `plist:"KeepAlive"`
	Disabled         bool     `plist:"Disabled"`
}

func (j launchdJob) program() string {
	if j.Program != "" {
		return j.Program
	}
	if len(j.ProgramArguments) > 0 {
		return j.ProgramArguments[0]
	}
	return ""
}

// keepAlive is true for KeepAlive=true or any KeepAlive dictionary.
func (j launchdJob) keepAlive() bool {
	switch v := j.KeepAlive.(type) {
	case bool:
		return v
	case map[string]any:
		return len(v) > 0
	}
	return false
}

// parseLaunchdPlist decodes a launchd job (XML, binary or OpenStep plist).
func parseLaunchdPlist(data []byte) (launchdJob, error) {
	var j launchdJob
	if _, err := plist.Unmarshal(data, &j); err != nil {
		return j, fmt.Errorf("parse launchd plist: %w", err)
	}
	return j, nil
}

// parseLaunchctlList parses `launchctl list` (PID, status, label) into
// label → pid, with 0 for loaded jobs that are not running.
func parseLaunchctlList(out []byte) map[string]int {
	jobs := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] == "PID" {
			continue
		}
		pid, _ := strconv.Atoi(f[0]) // "-" when not running
		jobs[f[2]] = pid
	}
	return jobs
}

// parseLaunchctlDisabled parses `launchctl print-disabled system`, lines
// like `"com.apple.screensharing" => enabled` (or true/false in older
// releases, where true means disabled).
func parseLaunchctlDisabled(out []byte) map[string]bool {
	enabled := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		label, state, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=>")
		if !ok {
			continue
		}
		label = strings.Trim(strings.TrimSpace(label), `"`)
		switch strings.TrimSpace(state) {
		case "enabled", "false":
			enabled[label] = true
		case "disabled", "true":
			enabled[label] = false
		}
	}
	return enabled
}

// darwinFeatures reports Screen Sharing (com.apple.screensharing) and
// Remote Management (ARDAgent, enabled by kickstart through
// RemoteManagement.launchd).
func darwinFeatures(fsys fs.FS, enabled map[string]bool, running map[string]int) []Feature {
	ss := Feature{Name: "screen_sharing", Source: "launchctl print-disabled system"}
	if on, ok := enabled["com.apple.screensharing"]; ok {
		ss.Enabled = on
		ss.Detail = "com.apple.screensharing is " + map[bool]string{true: "enabled", false: "disabled"}[on]
	} else {
		ss.Detail = "com.apple.screensharing not listed (default: disabled)"
	}
	rm := Feature{Name: "remote_management", Source: "Library/Application Support/Apple/Remote Desktop/RemoteManagement.launchd"}
	if data, err := fs.ReadFile(fsys, rm.Source); err == nil {
		rm.Enabled = strings.TrimSpace(string(data)) == "enabled"
		rm.Detail = "RemoteManagement.launchd says " + strings.TrimSpace(string(data))
	} else {
		rm.Detail = "RemoteManagement.launchd absent (default: disabled)"
	}
	if pid := running["com.apple.RemoteDesktop.agent"]; pid > 0 {
		rm.Enabled = true
		rm.Detail += fmt.Sprintf("; ARDAgent running (pid %d)", pid)
	}
	return []Feature{ss, rm}
}

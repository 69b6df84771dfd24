package remoteaccess

// Linux sources. Plain Go on purpose: these parsers are tested on any OS
// against recorded data; the host is reached through h.FS and h.Exec.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

var systemdUnitDirs = []string{"etc/systemd/system", "run/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"}

func observeLinux(ctx context.Context, h *detectors.Host, o *Observation, cat *Catalogue) {
	units := linuxUnitFiles(h.FS)
	out, err := h.Exec.Run(ctx, "systemctl", "list-units", "--type=service", "--all", "--no-legend", "--plain", "--no-pager")
	if err != nil {
		o.addError("systemctl", err)
	}
	o.Services = append(o.Services, mergeSystemdUnits(units, parseSystemctlListUnits(out))...)

	pkgs, errs := inventory.LinuxPackages(ctx, h.FS, h.Exec)
	o.Errors = append(o.Errors, errs...)
	o.Software = append(o.Software, filterPackages(pkgs, cat)...)
	o.Features = append(o.Features, linuxFeatures(o)...)
	for _, p := range []string{"run/utmp", "var/run/utmp"} {
		data, err := fs.ReadFile(h.FS, p)
		if err != nil {
			continue
		}
		sessions, err := parseUtmp(data)
		if err != nil {
			o.addError("utmp", err)
		}
		o.Sessions = append(o.Sessions, sessions...)
		break
	}
}

// unitFile is what farmwatch reads of a systemd unit file.
type unitFile struct {
	name, path, exec string
	enabled          bool
}

// linuxUnitFiles reads service unit files and whether each is enabled (a
// symlink in some *.wants directory of /etc/systemd/system).
func linuxUnitFiles(fsys fs.FS) map[string]unitFile {
	units := map[string]unitFile{}
	for _, dir := range systemdUnitDirs {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".service") {
				continue
			}
			if _, dup := units[n]; dup {
				continue // earlier directories take precedence, as in systemd
			}
			u := unitFile{name: n, path: "/" + path.Join(dir, n)}
			if data, err := fs.ReadFile(fsys, path.Join(dir, n)); err == nil {
				u.exec = unitExecStart(data)
			}
			units[n] = u
		}
	}
	wants, _ := fs.Glob(fsys, "etc/systemd/system/*.wants/*.service")
	for _, w := range wants {
		n := path.Base(w)
		u := units[n]
		u.name, u.enabled = n, true
		units[n] = u
	}
	return units
}

// unitExecStart returns the program of the first ExecStart= line.
func unitExecStart(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		v, ok := strings.CutPrefix(line, "ExecStart=")
		if !ok {
			continue
		}
		v = strings.TrimLeft(v, "@-:+!")
		if f := strings.Fields(v); len(f) > 0 {
			return f[0]
		}
	}
	return ""
}

// systemdUnitState is one row of `systemctl list-units`.
type systemdUnitState struct {
	name, load, active, sub, description string
}

// parseSystemctlListUnits parses `systemctl list-units --plain --no-legend`.
func parseSystemctlListUnits(out []byte) []systemdUnitState {
	var rows []systemdUnitState
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(strings.TrimLeft(sc.Text(), "●* "))
		if len(f) < 4 || !strings.Contains(f[0], ".service") {
			continue
		}
		r := systemdUnitState{name: f[0], load: f[1], active: f[2], sub: f[3]}
		if len(f) > 4 {
			r.description = strings.Join(f[4:], " ")
		}
		rows = append(rows, r)
	}
	return rows
}

func mergeSystemdUnits(files map[string]unitFile, states []systemdUnitState) []Service {
	byName := map[string]*Service{}
	for _, u := range files {
		s := &Service{Name: u.name, State: "unknown", Path: u.exec, Kind: "systemd", StartMode: "manual"}
		if u.enabled {
			s.StartMode = "auto"
		}
		byName[u.name] = s
	}
	for _, r := range states {
		s, ok := byName[r.name]
		if !ok {
			s = &Service{Name: r.name, Kind: "systemd"}
			byName[r.name] = s
		}
		s.DisplayName = r.description
		switch {
		case r.active == "active" && (r.sub == "running" || r.sub == "exited"):
			s.State = "running"
		case r.active == "activating", r.active == "reloading":
			s.State = "running"
		default:
			s.State = "stopped"
		}
		if r.load == "masked" {
			s.StartMode = "disabled"
		}
	}
	out := make([]Service, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// filterPackages keeps the packages the catalogue names: a distribution
// has thousands, and only these matter here.
func filterPackages(sw []Software, cat *Catalogue) []Software {
	var out []Software
	for _, s := range sw {
		if len(cat.byPackage[strings.ToLower(s.Name)]) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// linuxFeatures derives the OS-level remote-desktop hosts from services:
// xrdp and GNOME Remote Desktop (RDP), and a VNC listener on 5900-5909.
func linuxFeatures(o *Observation) []Feature {
	var fs []Feature
	for _, s := range o.Services {
		switch s.Name {
		case "xrdp.service":
			fs = append(fs, Feature{Name: "xrdp", Enabled: s.StartMode == "auto" || s.State == "running", Source: "systemd " + s.Name,
				Detail: "state " + s.State + ", start " + s.StartMode})
		case "gnome-remote-desktop.service":
			fs = append(fs, Feature{Name: "rdp", Enabled: s.State == "running", Source: "systemd " + s.Name,
				Detail: "GNOME Remote Desktop, state " + s.State})
		}
	}
	for _, l := range o.Listeners {
		if l.Proto == "tcp" && l.Port >= 5900 && l.Port <= 5909 {
			fs = append(fs, Feature{Name: "vnc", Enabled: true, Source: "listener", Detail: fmt.Sprintf("tcp port %d open (pid %d)", l.Port, l.PID)})
			break
		}
	}
	return fs
}

// utmp record layout of Linux on amd64 and arm64 (glibc, 384 bytes).
const (
	utmpSize        = 384
	utmpUserProcess = 7
)

// parseUtmp returns the remote login sessions of a utmp file: user
// processes with a remote host. Local X displays (":0") are skipped.
func parseUtmp(data []byte) ([]Session, error) {
	var out []Session
	if len(data)%utmpSize != 0 {
		return nil, fmt.Errorf("utmp size %d is not a multiple of %d", len(data), utmpSize)
	}
	for off := 0; off+utmpSize <= len(data); off += utmpSize {
		r := data[off : off+utmpSize]
		typ := int16(binary.LittleEndian.Uint16(r[0:2]))
		if typ != utmpUserProcess {
			continue
		}
		line := cString(r[8:40])
		user := cString(r[44:76])
		host := cString(r[76:332])
		if host == "" || strings.HasPrefix(host, ":") {
			continue
		}
		out = append(out, Session{Protocol: "remote_shell", User: user, Client: host, State: "active", ID: line})
	}
	return out, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "?")
}

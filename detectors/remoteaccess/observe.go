package remoteaccess

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Observe implements detectors.Detector. Every source is read
// independently; one that fails is recorded in Observation.Errors and the
// rest go on.
func (d *detector) Observe(ctx context.Context, h *detectors.Host) (detectors.Observation, error) {
	o := &Observation{Schema: Schema, OS: h.GOOS, Processes: []Process{}, Services: []Service{}, Listeners: []Listener{}}
	switch h.GOOS {
	case "linux", "darwin", "windows":
	default:
		return nil, fmt.Errorf("remoteaccess on %s: %w", h.GOOS, detectors.ErrUnsupported)
	}
	observeProcesses(ctx, h, o)
	observeSockets(ctx, h, o)
	switch h.GOOS {
	case "linux":
		observeLinux(ctx, h, o, d.cat)
	case "darwin":
		observeDarwin(ctx, h, o)
	case "windows":
		observeWindows(ctx, d.native, o)
	}
	observePaths(h, o, d.cat)
	observeUnattended(h, o)
	if err := ctx.Err(); err != nil {
		return o, fmt.Errorf("remoteaccess observe interrupted: %w", err)
	}
	if len(o.Errors) > 0 {
		return o, fmt.Errorf("remoteaccess: %d source(s) unreadable, first %s: %s", len(o.Errors), o.Errors[0].Source, o.Errors[0].Error)
	}
	return o, nil
}

func observeProcesses(ctx context.Context, h *detectors.Host, o *Observation) {
	if h.Proc == nil {
		o.addError("processes", errors.New("no process table"))
		return
	}
	ps, err := h.Proc.Processes(ctx)
	if err != nil {
		o.addError("processes", err)
	}
	o.Processes = append(o.Processes, ps...)
	sort.Slice(o.Processes, func(i, j int) bool { return o.Processes[i].PID < o.Processes[j].PID })
}

// observeSockets splits the socket table into listeners and established
// connections with a non-loopback peer.
func observeSockets(ctx context.Context, h *detectors.Host, o *Observation) {
	if h.Proc == nil {
		return
	}
	ss, err := h.Proc.Sockets(ctx)
	if err != nil {
		o.addError("sockets", err)
	}
	for _, s := range ss {
		switch {
		case s.Proto == "tcp" && s.State == "LISTEN", s.Proto == "udp" && s.RemotePort == 0:
			if s.LocalPort == 0 {
				continue
			}
			o.Listeners = append(o.Listeners, Listener{Proto: s.Proto, Addr: s.LocalAddr, Port: s.LocalPort, PID: s.PID})
		case s.Proto == "tcp" && s.State == "ESTABLISHED" && !isLoopback(s.RemoteAddr):
			o.Connections = append(o.Connections, Connection{Proto: s.Proto, LocalPort: s.LocalPort, RemoteAddr: s.RemoteAddr, RemotePort: s.RemotePort, PID: s.PID})
		}
	}
	sort.Slice(o.Listeners, func(i, j int) bool {
		a, b := o.Listeners[i], o.Listeners[j]
		if a.Port != b.Port {
			return a.Port < b.Port
		}
		return a.Proto+a.Addr < b.Proto+b.Addr
	})
}

func isLoopback(addr string) bool {
	a, err := netip.ParseAddr(addr)
	return err == nil && a.Unmap().IsLoopback()
}

func observeWindows(ctx context.Context, n nativeSource, o *Observation) {
	svcs, err := n.Services(ctx)
	if err != nil {
		o.addError("windows_services", err)
	}
	o.Services = append(o.Services, svcs...)
	sw, err := n.Software(ctx)
	if err != nil {
		o.addError("uninstall_keys", err)
	}
	o.Software = append(o.Software, sw...)
	fs, err := n.Features(ctx)
	if err != nil {
		o.addError("rdp_settings", err)
	}
	o.Features = append(o.Features, fs...)
	ss, err := n.Sessions(ctx)
	if err != nil {
		o.addError("wts_sessions", err)
	}
	o.Sessions = append(o.Sessions, ss...)
}

// observePaths records which catalogue install paths exist on disk.
func observePaths(h *detectors.Host, o *Observation, cat *Catalogue) {
	seen := map[string]bool{}
	for _, t := range cat.Tools {
		for _, p := range t.Paths[h.GOOS] {
			matches := []string{p}
			if strings.Contains(p, "*") {
				var err error
				if matches, err = fs.Glob(h.FS, p); err != nil {
					continue // the catalogue test rejects bad patterns
				}
			}
			for _, m := range matches {
				if seen[m] {
					continue
				}
				if _, err := fs.Stat(h.FS, m); err == nil {
					seen[m] = true
					o.Paths = append(o.Paths, m)
				}
			}
		}
	}
	sort.Strings(o.Paths)
}

// observeUnattended looks for Chrome Remote Desktop host configurations,
// which exist only once unattended access has been set up with a PIN, and
// for a PIN given on a running setup command line.
func observeUnattended(h *detectors.Host, o *Observation) {
	var patterns []string
	switch h.GOOS {
	case "linux":
		patterns = []string{"home/*/.config/chrome-remote-desktop/host#*.json", "root/.config/chrome-remote-desktop/host#*.json"}
	case "darwin":
		patterns = []string{"Library/PrivilegedHelperTools/org.chromium.chromoting.json"}
	case "windows":
		patterns = []string{"ProgramData/Google/Chrome Remote Desktop/host.json", "ProgramData/Google/Chrome Remote Desktop/host#*.json"}
	}
	for _, p := range patterns {
		ms, _ := fs.Glob(h.FS, p)
		for _, m := range ms {
			o.Unattended = append(o.Unattended, UnattendedSetup{Tool: "chrome_remote_desktop", Kind: "host_config", Path: m,
				Detail: "Chrome Remote Desktop host registered for unattended access (a PIN was set)"})
		}
	}
	for _, p := range o.Processes {
		cl := strings.ToLower(p.Cmdline)
		if strings.Contains(cl, "remoting_start_host") && strings.Contains(cl, "--pin") {
			o.Unattended = append(o.Unattended, UnattendedSetup{Tool: "chrome_remote_desktop", Kind: "pin_cmdline",
				Path: p.Exe, Detail: fmt.Sprintf("pid %d runs remoting_start_host with --pin", p.PID)})
		}
	}
}

// baseName returns the last element of a slash or backslash path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// normPath turns a host path into the catalogue's form: lower case, slash
// separated, relative to the root or system drive.
func normPath(p string) string {
	p = strings.Trim(strings.TrimSpace(p), `"`)
	if len(p) >= 2 && p[1] == ':' {
		p = p[2:]
	}
	b := make([]byte, 0, len(p))
	clean := true
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			c = '/'
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 0x80:
			// Non-ASCII: fall back to Unicode lower-casing below.
			return cleanRel(strings.ToLower(strings.ReplaceAll(p, `\`, "/")))
		}
		if c == '/' && len(b) > 0 && b[len(b)-1] == '/' || c == '.' && (len(b) == 0 || b[len(b)-1] == '/') {
			clean = false
		}
		b = append(b, c)
	}
	if !clean {
		return cleanRel(string(b))
	}
	return strings.Trim(string(b), "/")
}

func cleanRel(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

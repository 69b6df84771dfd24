package remoteaccess

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Rule ids. Stable: the collector, SIEM rules and policies refer to them.
const (
	RuleInstalled          = "remoteaccess.installed"
	RuleRunning            = "remoteaccess.running"
	RuleUnattended         = "remoteaccess.unattended_access"
	RuleCRDUnattendedPIN   = "remoteaccess.crd_unattended_pin"
	RuleMultipleTools      = "remoteaccess.multiple_tools"
	RuleOSRemoteEnabled    = "remoteaccess.os_remote_desktop_enabled"
	RuleOSRemoteInUse      = "remoteaccess.os_remote_desktop_in_use"
	RuleSanctioned         = "remoteaccess.sanctioned"
	remoteDesktopPortRDP   = 3389
	remoteDesktopPortVNC   = 5900
	rationaleRemoteControl = "Remote-control software lets someone elsewhere drive this laptop. Laptop-farm facilitators install it so that workers abroad appear to work from the laptop's location."
)

// hits is everything that matched one catalogue tool.
type hits struct {
	tool       *Tool
	procs      []Process
	svcs       []Service
	software   []Software
	paths      []string
	listeners  []Listener
	conns      []Connection
	unattended []UnattendedSetup
}

func (h *hits) running() bool {
	if len(h.procs) > 0 {
		return true
	}
	for _, s := range h.svcs {
		if s.State == "running" {
			return true
		}
	}
	return false
}

// unattended is true when the tool starts by itself (an auto-start
// service or launchd/systemd job) or accepts inbound connections.
func (h *hits) unattendedAccess() bool {
	if len(h.listeners) > 0 {
		return true
	}
	for _, s := range h.svcs {
		if s.StartMode == "auto" || s.State == "running" {
			return true
		}
	}
	return false
}

// Evaluate implements detectors.Detector.
func (d *detector) Evaluate(cur, _ detectors.Observation, pol detectors.Policy) []detectors.Finding {
	o, ok := cur.(*Observation)
	if !ok || o == nil {
		return nil
	}
	p, _ := pol.(*Policy)
	if p == nil {
		p = &Policy{}
	}
	matched := d.match(o)
	var out []detectors.Finding
	var flagged []*hits
	for _, h := range matched {
		if s, ok := sanctioned(p, h); ok {
			out = append(out, sanctionedFinding(h, s))
			continue
		}
		out = append(out, d.toolFinding(h))
		if h.tool.Category != CategoryTunnel {
			flagged = append(flagged, h)
		}
	}
	if len(flagged) >= 2 {
		out = append(out, multipleToolsFinding(flagged))
	}
	out = append(out, crdFindings(o, p)...)
	out = append(out, osRemoteDesktopFindings(o, p, matched)...)
	return out
}

// match finds every catalogue tool the observation shows, sorted by id.
func (d *detector) match(o *Observation) []*hits {
	byTool := map[string]*hits{}
	get := func(t *Tool) *hits {
		h, ok := byTool[t.ID]
		if !ok {
			h = &hits{tool: t}
			byTool[t.ID] = h
		}
		return h
	}
	oses := []string{o.OS}
	if _, ok := d.cat.idx[o.OS]; !ok {
		oses = []string{"windows", "darwin", "linux"} // a recorded observation without its OS
	}
	pidTools := map[int32][]*Tool{}
	for _, goos := range oses {
		ix := d.cat.idx[goos]
		for _, pr := range o.Processes {
			ts := ix.lookupProcess(pr)
			for _, t := range ts {
				h := get(t)
				h.procs = append(h.procs, pr)
				pidTools[pr.PID] = appendTool(pidTools[pr.PID], t)
			}
		}
		for _, s := range o.Services {
			for _, t := range ix.lookupService(s) {
				h := get(t)
				h.svcs = append(h.svcs, s)
			}
		}
		for _, p := range o.Paths {
			for _, t := range ix.lookupPath(normPath(p)) {
				h := get(t)
				h.paths = append(h.paths, p)
			}
		}
	}
	for _, s := range o.Software {
		for _, t := range d.cat.lookupSoftware(s) {
			h := get(t)
			h.software = append(h.software, s)
		}
	}
	for _, l := range o.Listeners {
		for _, t := range pidTools[l.PID] {
			h := get(t)
			h.listeners = append(h.listeners, l)
		}
	}
	for _, c := range o.Connections {
		for _, t := range pidTools[c.PID] {
			h := get(t)
			h.conns = append(h.conns, c)
		}
	}
	for _, u := range o.Unattended {
		if t, ok := d.cat.Tool(u.Tool); ok {
			h := get(t)
			h.unattended = append(h.unattended, u)
		}
	}
	out := make([]*hits, 0, len(byTool))
	for _, h := range byTool {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].tool.ID < out[j].tool.ID })
	return out
}

func (ix *osIndex) lookupProcess(p Process) []*Tool {
	name := strings.ToLower(p.Name)
	ts := ix.process[name]
	if exe := strings.ToLower(baseName(p.Exe)); exe != "" && exe != name {
		ts = append(ts[:len(ts):len(ts)], ix.process[exe]...)
	}
	if p.Exe != "" {
		ts = append(ts[:len(ts):len(ts)], ix.lookupPath(normPath(p.Exe))...)
	}
	return dedupe(ts)
}

func (ix *osIndex) lookupService(s Service) []*Tool {
	name := strings.ToLower(s.Name)
	ts := ix.service[name]
	if at := strings.IndexByte(name, '@'); at > 0 && strings.HasSuffix(name, ".service") {
		// systemd template instance: chrome-remote-desktop@alice.service
		ts = append(ts[:len(ts):len(ts)], ix.service[name[:at]+"@.service"]...)
		ts = append(ts[:len(ts):len(ts)], ix.service[name[:at]+".service"]...)
	}
	if s.Path != "" {
		ts = append(ts[:len(ts):len(ts)], ix.lookupPath(normPath(firstField(s.Path)))...)
	}
	return dedupe(ts)
}

// lookupPath returns the tools whose install path is p or a parent of p
// (p normalised by normPath).
func (ix *osIndex) lookupPath(p string) []*Tool {
	var ts []*Tool
	for end := len(p); end > 0; end = strings.LastIndexByte(p[:end], '/') {
		ts = append(ts, ix.exactPaths[p[:end]]...)
	}
	// Per-user install paths (Users/*/AppData/…): try p with its second
	// element replaced by "*".
	if i := strings.IndexByte(p, '/'); i > 0 && ix.wildFirst[p[:i]] {
		rest := p[i+1:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			j = len(rest)
		}
		wild := p[:i+1] + "*" + rest[j:]
		for end := len(wild); end > 0; end = strings.LastIndexByte(wild[:end], '/') {
			ts = append(ts, ix.exactPaths[wild[:end]]...)
		}
	}
	for _, r := range ix.globPaths {
		if strings.HasPrefix(p, r.literal) && pathWithin(p, r.pattern) {
			ts = append(ts, r.tool)
		}
	}
	return ts
}

// pathWithin reports whether p equals pattern or lies below it; pattern
// elements may hold path.Match wildcards.
func pathWithin(p, pattern string) bool {
	pe, qe := strings.Split(p, "/"), strings.Split(pattern, "/")
	if len(pe) < len(qe) {
		return false
	}
	for i, q := range qe {
		if ok, _ := path.Match(q, pe[i]); !ok {
			return false
		}
	}
	return true
}

func (c *Catalogue) lookupSoftware(s Software) []*Tool {
	var ts []*Tool
	switch s.Source {
	case "dpkg", "rpm":
		ts = append(ts, c.byPackage[strings.ToLower(s.Name)]...)
	}
	if s.ID != "" {
		ts = append(ts, c.byBundle[strings.ToLower(s.ID)]...)
	}
	name := strings.ToLower(strings.TrimSpace(s.Name))
	for _, r := range c.bySoftware {
		if strings.HasPrefix(name, r.prefix) && (len(name) == len(r.prefix) || !isWordByte(name[len(r.prefix)])) {
			ts = append(ts, r.tool)
		}
	}
	return dedupe(ts)
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_'
}

func firstField(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	if strings.HasPrefix(cmd, `"`) {
		if end := strings.IndexByte(cmd[1:], '"'); end >= 0 {
			return cmd[1 : end+1]
		}
	}
	if i := strings.Index(strings.ToLower(cmd), ".exe"); i >= 0 {
		return cmd[:i+4]
	}
	if f := strings.Fields(cmd); len(f) > 0 {
		return f[0]
	}
	return cmd
}

func dedupe(ts []*Tool) []*Tool {
	if len(ts) < 2 {
		return ts
	}
	out := ts[:0:0]
	for _, t := range ts {
		out = appendTool(out, t)
	}
	return out
}

// sanctioned reports whether policy approves everything seen of h.
func sanctioned(p *Policy, h *hits) (Sanction, bool) {
	for _, s := range p.Sanctioned {
		if s.Tool != h.tool.ID {
			continue
		}
		if len(s.Paths) > 0 && !allWithin(h, s.Paths) {
			continue
		}
		if len(s.Publishers) > 0 && !publisherOK(h, s.Publishers) {
			continue
		}
		return s, true
	}
	return Sanction{}, false
}

func allWithin(h *hits, prefixes []string) bool {
	var locations []string
	for _, p := range h.procs {
		if p.Exe != "" {
			locations = append(locations, p.Exe)
		}
	}
	for _, s := range h.svcs {
		if s.Path != "" && strings.ContainsAny(s.Path, `/\`) {
			locations = append(locations, firstField(s.Path))
		}
	}
	for _, s := range h.software {
		if s.Location != "" {
			locations = append(locations, s.Location)
		}
	}
	for _, loc := range locations {
		ok := false
		for _, pre := range prefixes {
			if pathWithin(normPath(loc), normPath(pre)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func publisherOK(h *hits, publishers []string) bool {
	seen := false
	for _, s := range h.software {
		if s.Publisher == "" {
			continue
		}
		seen = true
		ok := false
		for _, p := range publishers {
			if strings.EqualFold(strings.TrimSpace(s.Publisher), strings.TrimSpace(p)) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return seen
}

func mitreFor(c Category) []string {
	switch c {
	case CategoryTunnel:
		return []string{"T1572", "T1219"}
	case CategoryVNC:
		return []string{"T1219", "T1219.002", "T1021.005"}
	case CategoryRDPServer:
		return []string{"T1219", "T1021.001"}
	default:
		return []string{"T1219", "T1219.002"}
	}
}

func (d *detector) toolFinding(h *hits) detectors.Finding {
	t := h.tool
	f := detectors.Finding{MITRE: mitreFor(t.Category), Evidence: h.evidence(d.cat.Version)}
	kind := categoryWords(t.Category)
	tunnel := t.Category == CategoryTunnel
	switch {
	case h.unattendedAccess():
		f.Rule, f.Severity, f.Confidence = RuleUnattended, detectors.SeverityHigh, 0.9
		f.Title = fmt.Sprintf("%s is set up for unattended access", t.Name)
		if tunnel {
			f.Severity = detectors.SeverityMedium
		}
	case h.running():
		f.Rule, f.Severity, f.Confidence = RuleRunning, detectors.SeverityMedium, 0.9
		f.Title = fmt.Sprintf("%s is running", t.Name)
		if len(t.ReportedIn) > 0 {
			f.Severity = detectors.SeverityHigh
		}
		if tunnel {
			f.Severity = detectors.SeverityLow
		}
	default:
		f.Rule, f.Severity, f.Confidence = RuleInstalled, detectors.SeverityLow, 0.8
		f.Title = fmt.Sprintf("%s is installed", t.Name)
		if tunnel {
			f.Severity = detectors.SeverityInfo
		}
	}
	f.ID = detectors.FindingID(f.Rule, t.ID)
	f.Summary = fmt.Sprintf("%s (%s) found: %s.", t.Name, kind, strings.Join(h.describe(), "; "))
	f.Rationale = rationaleRemoteControl
	if tunnel {
		f.Rationale = "Tunnels and mesh VPNs make this laptop reachable from anywhere without the company's VPN, a way to hide where the person using it really is."
	}
	if len(t.ReportedIn) > 0 {
		f.Rationale += fmt.Sprintf(" %s is named in public reporting on North Korean IT-worker schemes (%s).", t.Name, strings.Join(t.ReportedIn, ", "))
	}
	f.Remediation = fmt.Sprintf("Confirm with IT whether %s was installed on purpose. If not, isolate the laptop and find who installed it; if it is approved, add {tool: %s} to the remoteaccess.sanctioned policy.", t.Name, t.ID)
	return f
}

func categoryWords(c Category) string {
	switch c {
	case CategoryRMM:
		return "remote monitoring and management agent"
	case CategoryVNC:
		return "VNC server"
	case CategoryRDPServer:
		return "remote-desktop server"
	case CategoryTunnel:
		return "tunnel / mesh VPN"
	default:
		return "remote-control tool"
	}
}

// describe lists what matched, in words, most telling first.
func (h *hits) describe() []string {
	var parts []string
	for _, p := range h.procs {
		s := fmt.Sprintf("process %s (pid %d", p.Name, p.PID)
		if p.User != "" {
			s += ", user " + p.User
		}
		if p.Exe != "" {
			s += ", " + p.Exe
		}
		parts = append(parts, s+")")
	}
	for _, s := range h.svcs {
		parts = append(parts, fmt.Sprintf("%s %s (%s, start %s)", serviceWord(s.Kind), s.Name, s.State, orUnknown(s.StartMode)))
	}
	for _, l := range h.listeners {
		parts = append(parts, fmt.Sprintf("listening on %s %s:%d", l.Proto, l.Addr, l.Port))
	}
	for _, c := range h.conns {
		parts = append(parts, fmt.Sprintf("connected to %s:%d", c.RemoteAddr, c.RemotePort))
	}
	for _, s := range h.software {
		v := s.Name
		if s.Version != "" {
			v += " " + s.Version
		}
		parts = append(parts, fmt.Sprintf("installed %s (%s)", v, s.Source))
	}
	for _, p := range h.paths {
		parts = append(parts, "install path /"+strings.TrimPrefix(p, "/"))
	}
	return parts
}

func serviceWord(kind string) string {
	switch kind {
	case "launchd":
		return "launchd job"
	case "systemd":
		return "systemd unit"
	default:
		return "service"
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (h *hits) evidence(catVersion string) map[string]any {
	ev := map[string]any{
		"tool":               h.tool.ID,
		"tool_name":          h.tool.Name,
		"category":           string(h.tool.Category),
		"catalogue_version":  catVersion,
		"catalogue_sources":  h.tool.Sources,
		"running":            h.running(),
		"unattended_capable": h.unattendedAccess(),
	}
	if len(h.tool.ReportedIn) > 0 {
		ev["reported_in"] = h.tool.ReportedIn
	}
	if len(h.procs) > 0 {
		ev["processes"] = h.procs
	}
	if len(h.svcs) > 0 {
		ev["services"] = h.svcs
	}
	if len(h.software) > 0 {
		ev["software"] = h.software
	}
	if len(h.paths) > 0 {
		ev["paths"] = h.paths
	}
	if len(h.listeners) > 0 {
		ev["listeners"] = h.listeners
	}
	if len(h.conns) > 0 {
		ev["connections"] = h.conns
	}
	if len(h.tool.Domains) > 0 {
		ev["relay_domains"] = h.tool.Domains
	}
	return ev
}

func sanctionedFinding(h *hits, s Sanction) detectors.Finding {
	ev := h.evidence("")
	delete(ev, "catalogue_version")
	if s.Reason != "" {
		ev["sanction_reason"] = s.Reason
	}
	return detectors.Finding{
		ID: detectors.FindingID(RuleSanctioned, h.tool.ID), Rule: RuleSanctioned,
		Severity: detectors.SeverityInfo, Confidence: 1,
		Title:    fmt.Sprintf("%s is present and sanctioned by policy", h.tool.Name),
		Summary:  fmt.Sprintf("%s found: %s. Policy sanctions it.", h.tool.Name, strings.Join(h.describe(), "; ")),
		Evidence: ev, MITRE: mitreFor(h.tool.Category),
	}
}

func multipleToolsFinding(flagged []*hits) detectors.Finding {
	var names, ids []string
	running := 0
	for _, h := range flagged {
		names = append(names, h.tool.Name)
		ids = append(ids, h.tool.ID)
		if h.running() {
			running++
		}
	}
	f := detectors.Finding{
		ID: detectors.FindingID(RuleMultipleTools, ids...), Rule: RuleMultipleTools,
		Severity: detectors.SeverityHigh, Confidence: 0.9,
		Title:       fmt.Sprintf("%d remote-access tools on one laptop", len(flagged)),
		Summary:     fmt.Sprintf("Found %s; %d of them running.", strings.Join(names, ", "), running),
		Rationale:   "A managed laptop rarely needs more than the one remote-support tool IT chose. Several tools at once, especially running together, is what incident responders saw on laptops driven by DPRK IT workers (Mandiant: \"use of multiple RATs on single systems\").",
		Remediation: "Treat the laptop as remotely controlled until IT accounts for every tool listed.",
		Evidence:    map[string]any{"tools": ids, "running_count": running},
		MITRE:       []string{"T1219", "T1219.002"},
	}
	if running >= 2 {
		f.Severity = detectors.SeverityCritical
	}
	return f
}

func crdFindings(o *Observation, p *Policy) []detectors.Finding {
	for _, s := range p.Sanctioned {
		if s.Tool == "chrome_remote_desktop" {
			return nil
		}
	}
	var cfg, pin []UnattendedSetup
	for _, u := range o.Unattended {
		if u.Tool != "chrome_remote_desktop" {
			continue
		}
		if u.Kind == "pin_cmdline" {
			pin = append(pin, u)
		} else {
			cfg = append(cfg, u)
		}
	}
	if len(cfg)+len(pin) == 0 {
		return nil
	}
	f := detectors.Finding{
		ID: detectors.FindingID(RuleCRDUnattendedPIN, "chrome_remote_desktop"), Rule: RuleCRDUnattendedPIN,
		Severity: detectors.SeverityHigh, Confidence: 0.9,
		Title:       "Chrome Remote Desktop is set up for unattended access with a PIN",
		Rationale:   "Unattended Chrome Remote Desktop lets anyone with the PIN take over the laptop at any time. Operators of DPRK IT-worker schemes set it up from the command line with a fixed PIN (remoting_start_host --pin), layered on other remote tools.",
		Remediation: "Remove the host registration (Chrome Remote Desktop settings or delete the host configuration file) unless IT set it up, and find who did.",
		Evidence:    map[string]any{"tool": "chrome_remote_desktop"},
		MITRE:       []string{"T1219", "T1219.002"},
	}
	var parts []string
	if len(cfg) > 0 {
		f.Evidence["host_configs"] = cfg
		for _, u := range cfg {
			parts = append(parts, "host configuration /"+strings.TrimPrefix(u.Path, "/"))
		}
	}
	if len(pin) > 0 {
		f.Severity, f.Confidence = detectors.SeverityCritical, 0.95
		f.Evidence["pin_command_lines"] = pin
		for _, u := range pin {
			parts = append(parts, u.Detail)
		}
	}
	f.Summary = strings.Join(parts, "; ") + "."
	return []detectors.Finding{f}
}

// osRemoteDesktopFindings reports the OS's own remote-desktop hosts that
// are enabled, and those in use (a remote session, or an inbound
// connection to the remote-desktop port).
func osRemoteDesktopFindings(o *Observation, p *Policy, matched []*hits) []detectors.Finding {
	toolPIDs := map[int32]bool{}
	for _, h := range matched {
		for _, pr := range h.procs {
			toolPIDs[pr.PID] = true
		}
	}
	var out []detectors.Finding
	var inUse []string
	for _, s := range o.Sessions {
		if s.Protocol == "rdp" || s.Protocol == "vnc" {
			inUse = append(inUse, fmt.Sprintf("%s session %s of %s from %s (%s)", strings.ToUpper(s.Protocol), s.ID, orUnknown(s.User), orUnknown(s.Client), s.State))
		}
	}
	for _, c := range o.Connections {
		if c.LocalPort == remoteDesktopPortRDP || c.LocalPort == remoteDesktopPortVNC {
			inUse = append(inUse, fmt.Sprintf("inbound connection from %s:%d to port %d (pid %d)", c.RemoteAddr, c.RemotePort, c.LocalPort, c.PID))
		}
	}
	var enabled []string
	for _, f := range o.Features {
		if f.Enabled && !(f.Name == "vnc" && listenerOfTool(o, toolPIDs)) {
			enabled = append(enabled, featureWords(f.Name)+" ("+f.Detail+")")
		}
	}
	sev := func(s detectors.Severity) detectors.Severity {
		if p.OSRemoteDesktopAllowed {
			return detectors.SeverityInfo
		}
		return s
	}
	if len(enabled) > 0 {
		out = append(out, detectors.Finding{
			ID: detectors.FindingID(RuleOSRemoteEnabled, enabled...), Rule: RuleOSRemoteEnabled,
			Severity: sev(detectors.SeverityLow), Confidence: 0.9,
			Title:       "The operating system's remote desktop is switched on",
			Summary:     "Enabled: " + strings.Join(enabled, "; ") + ".",
			Rationale:   "A built-in remote-desktop host lets someone on the network, or behind a tunnel, control the laptop without installing anything.",
			Remediation: "Switch it off unless the fleet uses it; set os_remote_desktop_allowed in the remoteaccess policy if it does.",
			Evidence:    map[string]any{"features": o.Features},
			MITRE:       []string{"T1021.001", "T1021.005", "T1133"},
		})
	}
	if len(inUse) > 0 {
		out = append(out, detectors.Finding{
			ID: detectors.FindingID(RuleOSRemoteInUse), Rule: RuleOSRemoteInUse,
			Severity: sev(detectors.SeverityHigh), Confidence: 0.85,
			Title:       "Someone is connected to this laptop's remote desktop",
			Summary:     strings.Join(inUse, "; ") + ".",
			Rationale:   "A live remote-desktop session means the laptop is being driven from another machine right now, the way laptop-farm workers use it.",
			Remediation: "Check who holds the session and from where; end it if it is not IT.",
			Evidence:    map[string]any{"sessions": o.Sessions, "connections": o.Connections},
			MITRE:       []string{"T1021.001", "T1021.005"},
		})
	}
	return out
}

func listenerOfTool(o *Observation, toolPIDs map[int32]bool) bool {
	for _, l := range o.Listeners {
		if l.Port >= 5900 && l.Port <= 5909 && toolPIDs[l.PID] {
			return true
		}
	}
	return false
}

func featureWords(name string) string {
	switch name {
	case "rdp":
		return "Remote Desktop (RDP)"
	case "screen_sharing":
		return "macOS Screen Sharing"
	case "remote_management":
		return "macOS Remote Management (ARD)"
	case "xrdp":
		return "xrdp"
	case "vnc":
		return "a VNC server"
	}
	return name
}

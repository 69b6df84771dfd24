package geodrift

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

// Observe implements detectors.Detector with the default policy (no
// landmarks).
func (d *detector) Observe(ctx context.Context, h *detectors.Host) (detectors.Observation, error) {
	return d.ObserveWith(ctx, h, nil)
}

// ObserveWith implements detectors.PolicyObserver. Every source is read
// independently; one that fails is recorded in Observation.Errors and the
// rest go on. Landmarks are probed last, within the policy's deadline.
func (d *detector) ObserveWith(ctx context.Context, h *detectors.Host, p detectors.Policy) (detectors.Observation, error) {
	switch h.GOOS {
	case "linux", "darwin", "windows":
	default:
		return nil, fmt.Errorf("geodrift on %s: %w", h.GOOS, detectors.ErrUnsupported)
	}
	pol, _ := p.(*Policy)
	if pol == nil {
		pol = defaultPolicy()
	}
	o := d.observeLocal(ctx, h, pol.catalogue())
	o.Landmarks = d.prober.measure(ctx, pol.Landmarks, pol.probeSettings())
	if err := ctx.Err(); err != nil {
		return o, fmt.Errorf("geodrift observe interrupted: %w", err)
	}
	if len(o.Errors) > 0 {
		return o, fmt.Errorf("geodrift: %d source(s) unreadable, first %s: %s", len(o.Errors), o.Errors[0].Source, o.Errors[0].Error)
	}
	return o, nil
}

// observeLocal reads everything but the landmarks: what needs no network.
func (d *detector) observeLocal(ctx context.Context, h *detectors.Host, cat *Catalogue) *Observation {
	o := &Observation{Schema: Schema, OS: h.GOOS}
	switch h.GOOS {
	case "linux":
		observeLinuxSettings(h, o)
	case "darwin":
		observeDarwinSettings(ctx, h, o)
	case "windows":
		observeWindowsSettings(ctx, d.native, o)
	}
	if o.TimeZone.Name != "" {
		setOffset(&o.TimeZone, h.Now())
	}
	observeNetwork(ctx, h, d.network, o)
	observeClients(ctx, h, d.winSoftware, cat, o)
	return o
}

// setOffset fills the zone's offset and abbreviation at t, from Go's zone
// database (embedded, so it works on Windows and on hosts without one).
func setOffset(tz *TimeZone, t time.Time) {
	loc, err := time.LoadLocation(tz.Name)
	if err != nil {
		return // the name is kept; the collector sees no offset for it
	}
	tz.Abbreviation, tz.UTCOffsetSeconds = t.In(loc).Zone()
}

// --- Linux -----------------------------------------------------------------

func observeLinuxSettings(h *detectors.Host, o *Observation) {
	o.TimeZone = unixTimeZone(h.FS, o, true)

	for _, f := range []string{"etc/locale.conf", "etc/default/locale"} {
		data, err := fs.ReadFile(h.FS, f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				o.addError("locale "+f, err)
			}
			continue
		}
		if l := localeFromEnv(parseEnvFile(data)); l != "" {
			o.Locale = Setting{Value: l, Source: "/" + f}
			break
		}
	}

	add := func(layouts []string, src string) {
		for _, l := range layouts {
			o.KeyboardLayouts = appendSetting(o.KeyboardLayouts, Setting{Value: l, Source: src})
		}
	}
	if data, err := fs.ReadFile(h.FS, "etc/default/keyboard"); err == nil {
		add(splitLayouts(parseEnvFile(data)["XKBLAYOUT"]), "/etc/default/keyboard")
	} else if !errors.Is(err, fs.ErrNotExist) {
		o.addError("keyboard /etc/default/keyboard", err)
	}
	if data, err := fs.ReadFile(h.FS, "etc/vconsole.conf"); err == nil {
		vars := parseEnvFile(data)
		add(splitLayouts(vars["XKBLAYOUT"]), "/etc/vconsole.conf")
		if l := consoleKeymapLayout(vars["KEYMAP"]); l != "" {
			add([]string{l}, "/etc/vconsole.conf KEYMAP")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		o.addError("keyboard /etc/vconsole.conf", err)
	}
	if data, err := fs.ReadFile(h.FS, "etc/X11/xorg.conf.d/00-keyboard.conf"); err == nil {
		add(parseXorgKeyboard(data), "/etc/X11/xorg.conf.d/00-keyboard.conf")
	}
}

// appendSetting adds s unless the same value is already listed.
func appendSetting(list []Setting, s Setting) []Setting {
	for _, e := range list {
		if e.Value == s.Value {
			return list
		}
	}
	return append(list, s)
}

// unixTimeZone reads the zone from the /etc/localtime symlink, and on
// Linux from Debian's /etc/timezone when the link says nothing.
func unixTimeZone(fsys fs.FS, o *Observation, debianFile bool) TimeZone {
	target, err := fs.ReadLink(fsys, "etc/localtime")
	if err == nil {
		name, err := zoneFromLink(target)
		if err == nil {
			return TimeZone{Name: name, Source: "/etc/localtime -> " + target}
		}
		o.addError("time zone /etc/localtime", err)
	}
	var linkErr error
	if err != nil {
		linkErr = err
	}
	if debianFile {
		data, err := fs.ReadFile(fsys, "etc/timezone")
		if err == nil {
			name, err := parseTimezoneFile(data)
			if err == nil {
				return TimeZone{Name: name, Source: "/etc/timezone"}
			}
			o.addError("time zone /etc/timezone", err)
			return TimeZone{}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			o.addError("time zone /etc/timezone", err)
			return TimeZone{}
		}
	}
	if linkErr != nil {
		if _, statErr := fs.Stat(fsys, "etc/localtime"); statErr == nil {
			linkErr = errors.New("/etc/localtime is a copy of a zone file, not a link: the zone name is unknown")
		}
		o.addError("time zone /etc/localtime", linkErr)
	}
	return TimeZone{}
}

// --- macOS -----------------------------------------------------------------

// darwinUsers lists the users with a preferences folder, sorted.
func darwinUsers(fsys fs.FS) []string {
	dirs, _ := fs.Glob(fsys, "Users/*/Library/Preferences")
	var users []string
	for _, d := range dirs {
		u := strings.Split(d, "/")[1]
		if u != "Shared" && u != "Guest" {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	return users
}

func observeDarwinSettings(ctx context.Context, h *detectors.Host, o *Observation) {
	o.TimeZone = unixTimeZone(h.FS, o, false)
	users := darwinUsers(h.FS)

	// Locale: the first user's own setting, else the machine-wide one set
	// at first boot. `defaults -g` would read the agent's own (root's)
	// domain, which says nothing about the people using the Mac.
	domains := make([]string, 0, len(users)+1)
	for _, u := range users {
		domains = append(domains, "/Users/"+u+"/Library/Preferences/.GlobalPreferences")
	}
	domains = append(domains, "/Library/Preferences/.GlobalPreferences")
	var errs []error
	for _, dom := range domains {
		if _, err := fs.Stat(h.FS, strings.TrimPrefix(dom, "/")+".plist"); err != nil {
			continue
		}
		out, err := h.Exec.Run(ctx, "defaults", "read", dom, "AppleLocale")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		v, err := parseDefaultsString(out)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dom, err))
			continue
		}
		o.Locale = Setting{Value: normalizeLocale(v), Source: "defaults read " + dom + " AppleLocale"}
		break
	}
	if o.Locale.Value == "" && len(errs) > 0 {
		o.addError("locale AppleLocale", errors.Join(errs...))
	}

	// Keyboard layouts: the login window's (machine-wide) and each user's.
	hito := []string{"/Library/Preferences/com.apple.HIToolbox"}
	for _, u := range users {
		hito = append(hito, "/Users/"+u+"/Library/Preferences/com.apple.HIToolbox")
	}
	for _, dom := range hito {
		if _, err := fs.Stat(h.FS, strings.TrimPrefix(dom, "/")+".plist"); err != nil {
			continue
		}
		out, err := h.Exec.Run(ctx, "defaults", "read", dom, "AppleEnabledInputSources")
		if err != nil {
			o.addError("keyboard "+dom, err)
			continue
		}
		layouts, err := parseInputSources(out)
		if err != nil {
			o.addError("keyboard "+dom, err)
			continue
		}
		for _, l := range layouts {
			o.KeyboardLayouts = appendSetting(o.KeyboardLayouts, Setting{Value: l, Source: dom})
		}
	}
}

// --- Windows ---------------------------------------------------------------

func observeWindowsSettings(ctx context.Context, n nativeSource, o *Observation) {
	if key, err := n.TimeZoneKeyName(ctx); err != nil {
		o.addError("time zone registry", err)
	} else {
		win, iana, err := windowsZoneName(key)
		o.TimeZone = TimeZone{Name: iana, WindowsName: win, Source: `HKLM\` + tzKeyPath + `\TimeZoneKeyName`}
		if err != nil {
			o.addError("time zone mapping", err)
		}
	}
	if name, src, err := n.Locale(ctx); err != nil {
		o.addError("locale", err)
	} else {
		o.Locale = Setting{Value: normalizeLocale(name), Source: src}
	}
	klids, err := n.KeyboardLayouts(ctx)
	if err != nil {
		o.addError("keyboard layouts", err)
	}
	for _, k := range klids {
		l, err := windowsLayoutName(k.ID)
		if err != nil {
			o.addError("keyboard layouts "+k.Hive, err)
			continue
		}
		o.KeyboardLayouts = appendSetting(o.KeyboardLayouts, Setting{Value: l, Source: k.Hive + `\Keyboard Layout\Preload`})
	}
}

// tzKeyPath is the registry key of the Windows time zone, under HKLM.
const tzKeyPath = `SYSTEM\CurrentControlSet\Control\TimeZoneInformation`

// --- network ---------------------------------------------------------------

func observeNetwork(ctx context.Context, h *detectors.Host, src networkSource, o *Observation) {
	tunnels, err := src.Tunnels(ctx, h)
	if err != nil {
		o.addError("interfaces", err)
	}
	o.Tunnels = tunnels
	gw, err := src.Gateway(ctx, h)
	if err != nil {
		o.addError("default gateway", err)
	}
	o.Network = gw
	bssids, unavailable, err := src.BSSIDs(ctx, h)
	if err != nil {
		o.addError("wifi", err)
	}
	// Not an error: the host has no Wi-Fi, or the OS withholds BSSIDs
	// (macOS without Location Services permission …). Recorded so the gap
	// is visible.
	o.Network.WiFiUnavailable = unavailable
	slices.Sort(bssids)
	o.Network.BSSIDs = slices.Compact(bssids)
}

// --- VPN clients -----------------------------------------------------------

// clientFinder gathers the evidence of each catalogued client.
type clientFinder struct {
	cat *Catalogue
	ev  map[int][]Evidence
	run map[int]bool
}

func (f *clientFinder) add(i int, e Evidence, running bool) {
	for _, x := range f.ev[i] {
		if x == e {
			return
		}
	}
	f.ev[i] = append(f.ev[i], e)
	if running {
		f.run[i] = true
	}
}

// observeClients looks for the catalogue's clients among processes,
// installed software (winSoftware gives the uninstall entries of a Windows
// host) and install paths.
func observeClients(ctx context.Context, h *detectors.Host, winSoftware func(context.Context) ([]inventory.Software, error), cat *Catalogue, o *Observation) {
	f := &clientFinder{cat: cat, ev: map[int][]Evidence{}, run: map[int]bool{}}

	if h.Proc == nil {
		o.addError("processes", errors.New("no process table"))
	} else {
		procs, err := h.Proc.Processes(ctx)
		if err != nil {
			o.addError("processes", err)
		}
		for _, p := range procs {
			matched := cat.processClients(h.GOOS, p.Name)
			if exe := baseName(p.Exe); exe != "" && !strings.EqualFold(exe, p.Name) {
				for _, i := range cat.processClients(h.GOOS, exe) {
					matched = appendOnce(matched, i)
				}
			}
			for _, i := range matched {
				d := fmt.Sprintf("pid %d %s", p.PID, p.Name)
				if p.Exe != "" {
					d += " (" + p.Exe + ")"
				}
				f.add(i, Evidence{Source: "process", Detail: d}, true)
			}
		}
	}

	var software []inventory.Software
	switch h.GOOS {
	case "windows":
		sw, err := winSoftware(ctx)
		if err != nil {
			o.addError("uninstall_keys", err)
		}
		software = sw
	case "darwin":
		apps, errs := inventory.AppBundles(h.FS)
		software = apps
		o.Errors = append(o.Errors, errs...)
	case "linux":
		pkgs, errs := inventory.LinuxPackages(ctx, h.FS, h.Exec)
		software = pkgs
		o.Errors = append(o.Errors, errs...)
	}
	for _, s := range software {
		var matched []int
		switch s.Source {
		case "dpkg", "rpm":
			matched = cat.byPackage[strings.ToLower(s.Name)]
		case "app_bundle":
			matched = slices.Clone(cat.byBundle[strings.ToLower(s.ID)])
			for _, i := range cat.softwareClients(s.Name) {
				matched = appendOnce(matched, i)
			}
		default:
			matched = cat.softwareClients(s.Name)
		}
		for _, i := range matched {
			f.add(i, Evidence{Source: "software", Detail: softwareDetail(s)}, false)
		}
	}

	for i, cl := range cat.Clients {
		for _, p := range cl.Paths[h.GOOS] {
			matches := []string{p}
			if strings.Contains(p, "*") {
				matches, _ = fs.Glob(h.FS, p) // patterns are checked when the catalogue is parsed
			}
			for _, m := range matches {
				if _, err := fs.Stat(h.FS, m); err == nil {
					f.add(i, Evidence{Source: "path", Detail: "/" + m}, false)
				}
			}
		}
	}

	ids := make([]int, 0, len(f.ev))
	for i := range f.ev {
		ids = append(ids, i)
	}
	sort.Ints(ids)
	for _, i := range ids {
		cl := cat.Clients[i]
		ev := f.ev[i]
		slices.SortStableFunc(ev, func(a, b Evidence) int { return evidenceRank(a.Source) - evidenceRank(b.Source) })
		o.VPNClients = append(o.VPNClients, VPNClient{ID: cl.ID, Name: cl.Name, Category: cl.Category,
			Reported: len(cl.ReportedIn) > 0, Running: f.run[i], Evidence: ev})
	}
}

func evidenceRank(source string) int {
	switch source {
	case "process":
		return 0
	case "software":
		return 1
	}
	return 2
}

func softwareDetail(s inventory.Software) string {
	var what string
	switch s.Source {
	case "dpkg", "rpm":
		what = s.Source + " package " + s.Name
	case "app_bundle":
		what = "app " + s.Name
		if s.ID != "" {
			what += " (" + s.ID + ")"
		}
	default:
		what = "installed program " + s.Name
	}
	if s.Version != "" {
		what += " " + s.Version
	}
	if s.Location != "" {
		what += " at " + s.Location
	}
	return what
}

// baseName returns the last element of a slash or backslash path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

package tray

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Autostart is the per-user login entry that starts the tray.
type Autostart struct {
	// Name names the entry: the .desktop file, the LaunchAgent label, the
	// Run value (default DefaultAutostartName).
	Name string
	// Exe is the absolute path of the farmwatch binary; Args follow it
	// (default: tray).
	Exe  string
	Args []string
}

// DefaultAutostartName is the entry's name.
const DefaultAutostartName = "farmwatch-tray"

func (a Autostart) name() string {
	if a.Name == "" {
		return DefaultAutostartName
	}
	return a.Name
}

func (a Autostart) argv() []string {
	args := a.Args
	if args == nil {
		args = []string{"tray"}
	}
	return append([]string{a.Exe}, args...)
}

// UserDirs locate a user's autostart entries.
type UserDirs struct {
	Home string
	// ConfigHome is $XDG_CONFIG_HOME (default Home/.config).
	ConfigHome string
}

// AutostartPath is where the entry of goos lives ("" on Windows: the
// registry's Run key).
func AutostartPath(goos string, d UserDirs, a Autostart) string {
	switch goos {
	case "windows":
		return ""
	case "darwin":
		return filepath.Join(d.Home, "Library", "LaunchAgents", "com.farmwatch."+a.name()+".plist")
	default:
		cfg := d.ConfigHome
		if cfg == "" {
			cfg = filepath.Join(d.Home, ".config")
		}
		return filepath.Join(cfg, "autostart", a.name()+".desktop")
	}
}

// DesktopEntry is the XDG autostart entry (Linux desktops).
func DesktopEntry(a Autostart) string {
	var exec []string
	for _, w := range a.argv() {
		exec = append(exec, desktopQuote(w))
	}
	return "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=farmwatch\n" +
		"Comment=Shows what farmwatch checks on this laptop and what it found\n" +
		"Exec=" + strings.Join(exec, " ") + "\n" +
		"Icon=security-medium\n" +
		"Terminal=false\n" +
		"NoDisplay=true\n" +
		"X-GNOME-Autostart-enabled=true\n"
}

// desktopQuote quotes one word of a desktop entry's Exec key (the
// Desktop Entry Specification's quoting, field codes escaped).
func desktopQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\><~|&;$*?#()`=") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\\\`, `"`, `\\"`, "`", "\\\\`", "$", `\\$`)
	return `"` + r.Replace(s) + `"`
}

// LaunchAgentPlist is the macOS per-user LaunchAgent: started at login in
// the user's GUI session (Aqua), not restarted after the user quits it.
func LaunchAgentPlist(a Autostart) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>com.farmwatch.` + xmlEscape(a.name()) + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, w := range a.argv() {
		b.WriteString("\t\t<string>" + xmlEscape(w) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<false/>
	<key>LimitLoadToSessionType</key>
	<string>Aqua</string>
	<key>ProcessType</key>
	<string>Interactive</string>
</dict>
</plist>
`)
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// RunValue is the Windows Run key's command line.
func RunValue(a Autostart) string {
	var ws []string
	for _, w := range a.argv() {
		ws = append(ws, windowsQuote(w))
	}
	return strings.Join(ws, " ")
}

// windowsQuote quotes one argument the way CommandLineToArgvW splits it.
func windowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for _, r := range s {
		switch r {
		case '\\':
			slashes++
			continue
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
		}
		slashes = 0
		b.WriteRune(r)
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}

// InstallAutostart adds the login entry for the current user and returns
// where it went.
func InstallAutostart(goos string, d UserDirs, a Autostart) (string, error) {
	if !filepath.IsAbs(a.Exe) {
		return "", fmt.Errorf("autostart: the binary path %q is not absolute", a.Exe)
	}
	var body string
	switch goos {
	case "windows":
		return runKeyPath + `\` + a.name(), setRunValue(a.name(), RunValue(a))
	case "darwin":
		body = LaunchAgentPlist(a)
	default:
		body = DesktopEntry(a)
	}
	p := AutostartPath(goos, d, a)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("autostart: %w", err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		return "", fmt.Errorf("autostart: %w", err)
	}
	return p, nil
}

// RemoveAutostart removes the login entry; removing one that is not there
// is not an error.
func RemoveAutostart(goos string, d UserDirs, a Autostart) (string, error) {
	if goos == "windows" {
		return runKeyPath + `\` + a.name(), deleteRunValue(a.name())
	}
	p := AutostartPath(goos, d, a)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("autostart: %w", err)
	}
	return p, nil
}

// runKeyPath is the per-user Run key under HKEY_CURRENT_USER.
const runKeyPath = `Software\Microsoft\Windows\CurrentVersion\Run`

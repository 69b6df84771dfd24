package tray

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDesktopEntry(t *testing.T) {
	t.Parallel()
	got := DesktopEntry(Autostart{Exe: "/usr/bin/farmwatch"})
	want := `[Desktop Entry]
Type=Application
Name=farmwatch
Comment=Shows what farmwatch checks on this laptop and what it found
Exec=/usr/bin/farmwatch tray
Icon=security-medium
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
`
	if got != want {
		t.Errorf("desktop entry:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range []struct{ in, want string }{
		{"/opt/farm watch/fw", `"/opt/farm watch/fw"`},
		{"50%", "50%%"},
		{`a"b`, `"a\\"b"`},
		{`C:\x y`, `"C:\\\\x y"`},
		{"$HOME", `"\\$HOME"`},
	} {
		if got := desktopQuote(c.in); got != c.want {
			t.Errorf("desktopQuote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLaunchAgentPlist(t *testing.T) {
	t.Parallel()
	p := LaunchAgentPlist(Autostart{Exe: "/Applications/farmwatch & co/farmwatch"})
	for _, want := range []string{
		"<string>com.farmwatch.farmwatch-tray</string>",
		"<string>/Applications/farmwatch &amp; co/farmwatch</string>\n\t\t<string>tray</string>",
		"<key>RunAtLoad</key>\n\t<true/>",
		"<key>LimitLoadToSessionType</key>\n\t<string>Aqua</string>",
	} {
		if !strings.Contains(p, want) {
			t.Errorf("plist lacks %q:\n%s", want, p)
		}
	}
}

func TestRunValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		exe  string
		want string
	}{
		{`C:\Program Files\farmwatch\farmwatch.exe`, `"C:\Program Files\farmwatch\farmwatch.exe" tray`},
		{`C:\fw\farmwatch.exe`, `C:\fw\farmwatch.exe tray`},
		{`C:\odd "name"\fw.exe`, `"C:\odd \"name\"\fw.exe" tray`},
		{`C:\dir with space\`, `"C:\dir with space\\" tray`},
	} {
		if got := RunValue(Autostart{Exe: c.exe}); got != c.want {
			t.Errorf("RunValue(%q) = %s, want %s", c.exe, got, c.want)
		}
	}
}

// TestAutostartFiles installs and removes the Linux and macOS entries in
// a fake home.
func TestAutostartFiles(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("file entries are tested on Linux; the Run key under Wine")
	}
	for _, c := range []struct {
		goos, xdg, rel, contains string
	}{
		{"linux", "", ".config/autostart/farmwatch-tray.desktop", "Exec=/usr/bin/farmwatch tray"},
		{"linux", "xdg", "xdg/autostart/farmwatch-tray.desktop", "Exec=/usr/bin/farmwatch tray"},
		{"darwin", "", "Library/LaunchAgents/com.farmwatch.farmwatch-tray.plist", "<string>/usr/bin/farmwatch</string>"},
	} {
		t.Run(c.goos+"/"+c.xdg, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			d := UserDirs{Home: home}
			if c.xdg != "" {
				d.ConfigHome = filepath.Join(home, c.xdg)
			}
			a := Autostart{Exe: "/usr/bin/farmwatch"}
			where, err := InstallAutostart(c.goos, d, a)
			if err != nil {
				t.Fatal(err)
			}
			if where != filepath.Join(home, c.rel) {
				t.Errorf("installed at %s, want %s", where, filepath.Join(home, c.rel))
			}
			b, err := os.ReadFile(where)
			if err != nil || !strings.Contains(string(b), c.contains) {
				t.Fatalf("entry %q %v", b, err)
			}
			if _, err := RemoveAutostart(c.goos, d, a); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(where); !os.IsNotExist(err) {
				t.Errorf("entry still there: %v", err)
			}
			if _, err := RemoveAutostart(c.goos, d, a); err != nil {
				t.Errorf("removing an absent entry: %v", err)
			}
		})
	}
	if _, err := InstallAutostart("linux", UserDirs{Home: t.TempDir()}, Autostart{Exe: "farmwatch"}); err == nil {
		t.Error("a relative binary path was accepted")
	}
	if _, err := InstallAutostart("windows", UserDirs{}, Autostart{Exe: "/usr/bin/farmwatch"}); err == nil {
		t.Error("the Run key was written off Windows")
	}
}

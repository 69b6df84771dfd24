package inventory

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/farmwatch/farmwatch/detectors/detectortest"
)

func TestParseDpkgStatus(t *testing.T) {
	t.Parallel()
	data := []byte("Package: anydesk\nStatus: install ok installed\nVersion: 6.3.0\nMaintainer: philandro\nDescription: x\n multi-line: not a field\n\n" +
		"Package: teamviewer\nStatus: deinstall ok config-files\nVersion: 15\n\n" +
		"Package: xrdp\nStatus: install ok half-configured\n")
	got := ParseDpkgStatus(data)
	if len(got) != 1 || got[0] != (Software{Name: "anydesk", ID: "anydesk", Version: "6.3.0", Publisher: "philandro", Source: "dpkg"}) {
		t.Errorf("packages %+v", got)
	}
}

func TestParseRPMQuery(t *testing.T) {
	t.Parallel()
	got := ParseRPMQuery([]byte("teamviewer\t15.59.3-0\tTeamViewer Germany GmbH\nbash\t5.2.26-3.fc40\t(none)\n\nnoversion\n"))
	if len(got) != 2 || got[0].Publisher != "TeamViewer Germany GmbH" || got[1].Publisher != "" || got[1].Version != "5.2.26-3.fc40" {
		t.Errorf("packages %+v", got)
	}
}

// errFS fails every read of one path, as an unreadable file would.
type errFS struct {
	fs.FS
	path string
}

func (e errFS) Open(name string) (fs.File, error) {
	if name == e.path {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return e.FS.Open(name)
}

func TestLinuxPackages(t *testing.T) {
	t.Parallel()
	fsys := detectortest.ParseFS([]byte("-- var/lib/dpkg/status --\nPackage: astrill\nStatus: install ok installed\nVersion: 3.10\n-- var/lib/rpm/ --\n"))
	run := &detectortest.Runner{Outputs: map[string][]byte{
		"rpm " + strings.Join(RPMQueryArgs, " "): []byte("nordvpn\t3.19.0-1\tNordVPN\n"),
	}}
	sw, errs := LinuxPackages(context.Background(), fsys, run)
	if len(errs) != 0 || len(sw) != 2 || sw[0].Name != "astrill" || sw[1].Name != "nordvpn" || sw[1].Source != "rpm" {
		t.Errorf("packages %+v, errors %+v", sw, errs)
	}

	// An unreadable dpkg database and a failing rpm are both reported.
	sw, errs = LinuxPackages(context.Background(), errFS{fsys, DpkgStatusPath}, &detectortest.Runner{})
	if len(sw) != 0 || len(errs) != 2 || errs[0].Source != "dpkg" || errs[1].Source != "rpm" {
		t.Errorf("packages %+v, errors %+v", sw, errs)
	}

	// Neither database: nothing, and no error.
	sw, errs = LinuxPackages(context.Background(), fstest.MapFS{}, &detectortest.Runner{})
	if len(sw) != 0 || len(errs) != 0 {
		t.Errorf("packages %+v, errors %+v", sw, errs)
	}
}

func TestAppBundles(t *testing.T) {
	t.Parallel()
	fsys := detectortest.ParseFS([]byte(`-- Applications/Astrill.app/Contents/Info.plist --
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>CFBundleName</key><string>Astrill</string><key>CFBundleIdentifier</key><string>com.astrill.Astrill</string></dict></plist>
-- Applications/Utilities/Unnamed.app/Contents/Info.plist --
{CFBundleIdentifier = "org.example.unnamed"; CFBundleShortVersionString = "1.2";}
-- Users/kim/Applications/Broken.app/Contents/Info.plist --
<plist><dict><key>
-- Applications/NoPlist.app/Contents/MacOS/x --
`))
	sw, errs := AppBundles(fsys)
	if len(sw) != 2 {
		t.Fatalf("apps %+v", sw)
	}
	if sw[0] != (Software{Name: "Astrill", ID: "com.astrill.Astrill", Location: "/Applications/Astrill.app", Source: "app_bundle"}) {
		t.Errorf("first app %+v", sw[0])
	}
	if sw[1].Name != "Unnamed" || sw[1].Version != "1.2" {
		t.Errorf("an app without a name is named after its bundle: %+v", sw[1])
	}
	if len(errs) != 1 || errs[0].Source != "app Users/kim/Applications/Broken.app" {
		t.Errorf("errors %+v", errs)
	}
}

func FuzzParsers(f *testing.F) {
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\n"))
	f.Add([]byte("bash\t5.2\t(none)\n"))
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>CFBundleName</key><string>x</string></dict></plist>`))
	f.Add([]byte("bplist00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range ParseDpkgStatus(data) {
			if s.Name == "" || s.Source != "dpkg" {
				t.Fatalf("bad package %+v", s)
			}
		}
		for _, s := range ParseRPMQuery(data) {
			if s.Name == "" || s.Source != "rpm" {
				t.Fatalf("bad package %+v", s)
			}
		}
		if s, err := ParseAppInfoPlist(data); err == nil && s.Source != "app_bundle" {
			t.Fatalf("bad app %+v", s)
		}
	})
}

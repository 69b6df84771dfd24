package remoteaccess

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// utmpRecord builds one glibc utmp record.
func utmpRecord(typ int16, line, user, host string) []byte {
	r := make([]byte, utmpSize)
	binary.LittleEndian.PutUint16(r[0:2], uint16(typ))
	copy(r[8:40], line)
	copy(r[44:76], user)
	copy(r[76:332], host)
	return r
}

func TestParseUtmp(t *testing.T) {
	t.Parallel()
	data := bytes.Join([][]byte{
		utmpRecord(2, "~", "reboot", "6.1.0"),                      // BOOT_TIME
		utmpRecord(utmpUserProcess, "tty7", "pat", ":0"),           // local X login
		utmpRecord(utmpUserProcess, "pts/1", "pat", "10.9.8.7"),    // remote shell
		utmpRecord(8, "pts/2", "", "10.0.0.1"),                     // DEAD_PROCESS
		utmpRecord(utmpUserProcess, "pts/3", "lee", "203.0.113.9"), // remote shell
	}, nil)
	got, err := parseUtmp(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].User != "pat" || got[0].Client != "10.9.8.7" || got[0].ID != "pts/1" || got[1].User != "lee" || got[0].Protocol != "remote_shell" {
		t.Errorf("sessions %+v", got)
	}
	if _, err := parseUtmp(data[:100]); err == nil {
		t.Error("a truncated utmp was accepted")
	}
}

func TestParseSystemctlListUnits(t *testing.T) {
	t.Parallel()
	out := []byte("● xrdp.service loaded failed failed xrdp daemon\n" +
		"  rustdesk.service   loaded active running RustDesk\n" +
		"cron.service loaded inactive dead Regular background program processing daemon\n" +
		"garbage\n")
	rows := parseSystemctlListUnits(out)
	if len(rows) != 3 || rows[0].name != "xrdp.service" || rows[0].active != "failed" || rows[1].sub != "running" || rows[2].description != "Regular background program processing daemon" {
		t.Errorf("rows %+v", rows)
	}
	svcs := mergeSystemdUnits(map[string]unitFile{"rustdesk.service": {name: "rustdesk.service", exec: "/usr/bin/rustdesk", enabled: true}}, rows)
	want := map[string]string{"xrdp.service": "stopped", "rustdesk.service": "running", "cron.service": "stopped"}
	for _, s := range svcs {
		if want[s.Name] != s.State {
			t.Errorf("%s: state %s, want %s", s.Name, s.State, want[s.Name])
		}
		if s.Name == "rustdesk.service" && (s.StartMode != "auto" || s.Path != "/usr/bin/rustdesk") {
			t.Errorf("rustdesk: %+v", s)
		}
	}
}

func TestUnitExecStart(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"[Service]\nExecStart=/usr/bin/a --x\n":    "/usr/bin/a",
		"[Service]\nExecStart=-/usr/sbin/b\n":      "/usr/sbin/b",
		"[Service]\nExecStartPre=/bin/true\n":      "",
		"[Service]\nExecStart=@/usr/bin/c argv0\n": "/usr/bin/c",
	} {
		if got := unitExecStart([]byte(in)); got != want {
			t.Errorf("unitExecStart(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLaunchctl(t *testing.T) {
	t.Parallel()
	jobs := parseLaunchctlList([]byte("PID\tStatus\tLabel\n412\t0\tcom.teamviewer.service\n-\t0\tcom.apple.screensharing\nbad line\n"))
	if jobs["com.teamviewer.service"] != 412 || jobs["com.apple.screensharing"] != 0 || len(jobs) != 2 {
		t.Errorf("jobs %v", jobs)
	}
	en := parseLaunchctlDisabled([]byte("disabled services = {\n\t\"com.apple.screensharing\" => enabled\n\t\"com.apple.x\" => true\n\t\"com.apple.y\" => false\n}\n"))
	if !en["com.apple.screensharing"] || en["com.apple.x"] || !en["com.apple.y"] {
		t.Errorf("enabled %v", en)
	}
}

func TestParseLaunchdPlistBinaryAndBroken(t *testing.T) {
	t.Parallel()
	if _, err := parseLaunchdPlist([]byte("<plist><dict><key>Label</key>")); err == nil {
		t.Error("a broken plist was accepted")
	}
	j, err := parseLaunchdPlist([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key><string>x</string><key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict></dict></plist>`))
	if err != nil || j.Label != "x" || !j.keepAlive() {
		t.Errorf("job %+v %v", j, err)
	}
}

func TestPathHelpers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`C:\Program Files (x86)\AnyDesk\AnyDesk.exe`: "program files (x86)/anydesk/anydesk.exe",
		`"C:\Program Files\X"`:                       "program files/x",
		"/usr/bin/../bin/rustdesk":                   "usr/bin/rustdesk",
		"":                                           "",
	} {
		if got := normPath(in); got != want {
			t.Errorf("normPath(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`"C:\Program Files\a b\x.exe" --service`: `C:\Program Files\a b\x.exe`,
		`C:\Program Files\a b\x.exe --service`:   `C:\Program Files\a b\x.exe`,
		"/usr/bin/x -d":                          "/usr/bin/x",
	} {
		if got := firstField(in); got != want {
			t.Errorf("firstField(%q) = %q, want %q", in, got, want)
		}
	}
	if !pathWithin("users/bob/appdata/local/rustdesk/rustdesk.exe", "users/*/appdata/local/rustdesk") || pathWithin("users/bob", "users/*/appdata") {
		t.Error("pathWithin with a wildcard element")
	}
}

func FuzzParseUtmp(f *testing.F) {
	f.Add(utmpRecord(utmpUserProcess, "pts/1", "pat", "10.9.8.7"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ss, err := parseUtmp(data)
		if err == nil && len(ss) > len(data)/utmpSize {
			t.Fatalf("%d sessions from %d records", len(ss), len(data)/utmpSize)
		}
	})
}

func FuzzParseSystemctlListUnits(f *testing.F) {
	f.Add([]byte("● xrdp.service loaded failed failed xrdp daemon\nrustdesk.service loaded active running RustDesk\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range parseSystemctlListUnits(data) {
			if r.name == "" || r.sub == "" {
				t.Fatalf("incomplete row %+v", r)
			}
		}
	})
}

func FuzzParseLaunchd(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><plist version="1.0"><dict><key>Label</key><string>x</string></dict></plist>`))
	f.Add([]byte("bplist00"))
	f.Add([]byte(`{Label = x; RunAtLoad = YES;}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := parseLaunchdPlist(data)
		if err == nil {
			_ = j.program()
			_ = j.keepAlive()
		}
		_ = parseLaunchctlList(data)
		_ = parseLaunchctlDisabled(data)
	})
}

func FuzzParseCatalogue(f *testing.F) {
	f.Add(catalogueYAML)
	f.Add([]byte("version: x\nsources: {s: src}\ntools:\n  - {id: a, name: A, category: rmm, sources: [s], paths: {linux: ['opt/[a']}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCatalogue(data)
		if err != nil {
			return
		}
		// An accepted catalogue must be usable for matching.
		d := New(c).(*detector)
		d.Evaluate(&Observation{Schema: Schema, OS: "windows", Processes: []Process{{PID: 1, Name: "x.exe", Exe: `C:\x\x.exe`}}, Paths: []string{"x/y"}}, nil, nil)
	})
}

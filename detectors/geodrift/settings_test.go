package geodrift

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestZoneFromLink(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		target, want string
		bad          bool
	}{
		{target: "/usr/share/zoneinfo/America/Chicago", want: "America/Chicago"},
		{target: "../usr/share/zoneinfo/Europe/Berlin", want: "Europe/Berlin"},
		{target: "/usr/share/zoneinfo/posix/Asia/Seoul", want: "Asia/Seoul"},
		{target: "/usr/share/zoneinfo/right/UTC", want: "UTC"},
		{target: "/var/db/timezone/zoneinfo/America/Argentina/Buenos_Aires", want: "America/Argentina/Buenos_Aires"},
		{target: "/usr/share/zoneinfo/Etc/GMT+5", want: "Etc/GMT+5"},
		{target: "/etc/zones/mine", bad: true},
		{target: "/usr/share/zoneinfo/", bad: true},
		{target: "/usr/share/zoneinfo/../../etc/passwd", bad: true},
	} {
		got, err := zoneFromLink(tt.target)
		if tt.bad {
			if err == nil {
				t.Errorf("zoneFromLink(%q) = %q, want an error", tt.target, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("zoneFromLink(%q) = %q, %v; want %q", tt.target, got, err, tt.want)
		}
	}
}

func TestParseTimezoneFile(t *testing.T) {
	t.Parallel()
	if got, err := parseTimezoneFile([]byte("# comment\n\nAsia/Tokyo\n")); err != nil || got != "Asia/Tokyo" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, in := range []string{"", "\n# only a comment\n", "not a zone!\n"} {
		if got, err := parseTimezoneFile([]byte(in)); err == nil {
			t.Errorf("parseTimezoneFile(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseEnvFileAndLocale(t *testing.T) {
	t.Parallel()
	vars := parseEnvFile([]byte("# comment\nexport LANG=\"de_DE.UTF-8\"\nLC_TIME='en_GB.UTF-8'\nKEYMAP=de-latin1 # trailing comment\n bad key=1\n=novalue\nLANG=fr_FR.UTF-8@euro\n"))
	want := map[string]string{"LANG": "fr_FR.UTF-8@euro", "LC_TIME": "en_GB.UTF-8", "KEYMAP": "de-latin1"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, vars[k], v, vars)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("vars %v, want %v", vars, want)
	}
	if got := localeFromEnv(vars); got != "fr_FR" {
		t.Errorf("locale %q, want fr_FR (LANG; LC_TIME does not count)", got)
	}
	if got := localeFromEnv(map[string]string{"LANG": "en_US.UTF-8", "LC_ALL": "ko_KR.UTF-8"}); got != "ko_KR" {
		t.Errorf("locale %q, want ko_KR (LC_ALL wins)", got)
	}
}

func TestNormalizeLocale(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"en_US.UTF-8":     "en_US",
		"en-US":           "en_US",
		"zh-Hans-CN":      "zh_CN",
		"de_DE@rg=uszzzz": "de_DE",
		"sr_RS@latin":     "sr_RS",
		"es-419":          "es_419",
		"fr":              "fr",
		"C.UTF-8":         "C",
		"POSIX":           "POSIX",
		" ko_KR ":         "ko_KR",
		"not a locale":    "not a locale",
	} {
		if got := normalizeLocale(in); got != want {
			t.Errorf("normalizeLocale(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyboardLayouts(t *testing.T) {
	t.Parallel()
	if got := splitLayouts(" US, ru,,us "); !slices.Equal(got, []string{"us", "ru"}) {
		t.Errorf("splitLayouts = %v", got)
	}
	for in, want := range map[string]string{"de-latin1-nodeadkeys": "de", "uk": "gb", "us": "us", "": ""} {
		if got := consoleKeymapLayout(in); got != want {
			t.Errorf("consoleKeymapLayout(%q) = %q, want %q", in, got, want)
		}
	}
	xorg := []byte("Section \"InputClass\"\n  Identifier \"system-keyboard\"\n  MatchIsKeyboard \"on\"\n  Option \"XkbLayout\" \"us,ua\"\n  Option \"XkbModel\" \"pc105\"\nEndSection\n")
	if got := parseXorgKeyboard(xorg); !slices.Equal(got, []string{"us", "ua"}) {
		t.Errorf("parseXorgKeyboard = %v", got)
	}
	for in, want := range map[string]string{"00000409": "us", "00000412": "kr", "E0200804": "cn", "00010409": "us", "0000042F": "klid:0000042f"} {
		if got, err := windowsLayoutName(in); err != nil || got != want {
			t.Errorf("windowsLayoutName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "409", "0000040g", "000004090"} {
		if got, err := windowsLayoutName(in); err == nil {
			t.Errorf("windowsLayoutName(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseInputSources(t *testing.T) {
	t.Parallel()
	out := []byte(`(
        {
        InputSourceKind = "Keyboard Layout";
        "KeyboardLayout ID" = "-2";
        "KeyboardLayout Name" = "British";
    },
        {
        "Bundle ID" = "com.apple.inputmethod.Kotoeri.RomajiTyping";
        "Input Mode" = "com.apple.inputmethod.Japanese";
        InputSourceKind = "Input Mode";
    },
        {
        "Bundle ID" = "com.apple.inputmethod.EmojiFunctionRowItem";
        InputSourceKind = "Non Keyboard Input Method";
    },
        {
        InputSourceKind = "Keyboard Layout";
        "KeyboardLayout Name" = "Colemak-DH";
    },
        {
        "Bundle ID" = "com.example.SomeIME";
        InputSourceKind = "Keyboard Input Method";
    }
)`)
	got, err := parseInputSources(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gb", "jp", "colemak-dh", "com.example.someime"}; !slices.Equal(got, want) {
		t.Errorf("layouts %v, want %v", got, want)
	}
	if _, err := parseInputSources([]byte("( { unterminated")); err == nil {
		t.Error("a broken plist parsed")
	}
}

func TestParseDefaultsString(t *testing.T) {
	t.Parallel()
	if got, err := parseDefaultsString([]byte("en_GB\n")); err != nil || got != "en_GB" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, in := range []string{"", "\n", "(\n  en\n)\n", "{ a = b; }"} {
		if got, err := parseDefaultsString([]byte(in)); err == nil {
			t.Errorf("parseDefaultsString(%q) = %q, want an error", in, got)
		}
	}
}

// TestWindowsZones checks the embedded CLDR table: every IANA name loads
// from Go's embedded zone database, and the zones farms are known to use
// map as CLDR says.
func TestWindowsZones(t *testing.T) {
	t.Parallel()
	if len(windowsZones) < 130 {
		t.Errorf("only %d Windows zones", len(windowsZones))
	}
	for win, iana := range windowsZones {
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("%s -> %s: %v", win, iana, err)
		}
	}
	for win, want := range map[string]string{
		"Pacific Standard Time": "America/Los_Angeles", "Central Standard Time": "America/Chicago",
		"Eastern Standard Time": "America/New_York", "US Mountain Standard Time": "America/Phoenix",
		"China Standard Time": "Asia/Shanghai", "North Korea Standard Time": "Asia/Pyongyang",
		"Russian Standard Time": "Europe/Moscow", "GMT Standard Time": "Europe/London",
		"India Standard Time": "Asia/Kolkata", "UTC": "Etc/UTC",
	} {
		if got, err := windowsZoneNameOf(win); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want %s", win, got, err, want)
		}
	}
	if _, iana, err := windowsZoneName("Mars Standard Time"); err == nil || iana != "" {
		t.Errorf("unknown zone mapped to %q", iana)
	}
	if win, iana, err := windowsZoneName("Tokyo Standard Time\x00junk"); err != nil || win != "Tokyo Standard Time" || iana != "Asia/Tokyo" {
		t.Errorf("NUL-terminated key: %q %q %v", win, iana, err)
	}
	for _, bad := range []string{"no tab here\n", "A\tnot a zone!\n", "A\tEtc/UTC\nA\tEtc/UTC\n"} {
		if _, err := parseWindowsZones([]byte(bad)); err == nil {
			t.Errorf("parseWindowsZones(%q) accepted", bad)
		}
	}
}

func windowsZoneNameOf(win string) (string, error) {
	_, iana, err := windowsZoneName(win)
	return iana, err
}

func FuzzSettingsParsers(f *testing.F) {
	f.Add([]byte("LANG=\"en_US.UTF-8\"\nXKBLAYOUT=us,de\n"))
	f.Add([]byte("(\n { InputSourceKind = \"Keyboard Layout\"; \"KeyboardLayout Name\" = \"U.S.\"; }\n)"))
	f.Add([]byte("America/Chicago\n"))
	f.Add([]byte("Option \"XkbLayout\" \"us\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		for k, v := range parseEnvFile(data) {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Fatalf("bad key %q=%q", k, v)
			}
		}
		_ = localeFromEnv(parseEnvFile(data))
		if l, err := parseInputSources(data); err == nil {
			for _, x := range l {
				if x == "" {
					t.Fatal("empty layout")
				}
			}
		}
		if z, err := parseTimezoneFile(data); err == nil && !validZoneSyntax(z) {
			t.Fatalf("accepted zone %q", z)
		}
		if z, err := zoneFromLink(string(data)); err == nil && !validZoneSyntax(z) {
			t.Fatalf("accepted zone %q from link", z)
		}
		_ = normalizeLocale(string(data))
		_, _ = parseDefaultsString(data)
		for _, l := range parseXorgKeyboard(data) {
			if l == "" {
				t.Fatal("empty xorg layout")
			}
		}
		_, _, _ = windowsZoneName(string(data))
		if l, err := windowsLayoutName(string(data)); err == nil && l == "" {
			t.Fatal("empty layout name")
		}
	})
}

package geodrift

// Parsers of the time zone, locale and keyboard settings of each OS. Plain
// Go on purpose: they are tested on any OS against recorded files and
// command output; the host is reached only by the caller.

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"howett.net/plist"
)

// zoneFromLink extracts the IANA name from the target of /etc/localtime
// ("/usr/share/zoneinfo/America/Chicago", "../usr/share/zoneinfo/posix/
// Europe/Berlin", macOS "/var/db/timezone/zoneinfo/Asia/Seoul").
func zoneFromLink(target string) (string, error) {
	_, name, ok := strings.Cut(target, "zoneinfo/")
	if !ok {
		return "", fmt.Errorf("link target %q is not under a zoneinfo directory", target)
	}
	for _, p := range []string{"posix/", "right/"} {
		name = strings.TrimPrefix(name, p)
	}
	if !validZoneSyntax(name) {
		return "", fmt.Errorf("link target %q does not end in a zone name", target)
	}
	return name, nil
}

var zoneSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`)

// validZoneSyntax accepts what IANA zone names look like ("America/
// Argentina/Buenos_Aires", "Etc/GMT+5", "UTC"), at most 64 bytes.
func validZoneSyntax(s string) bool { return len(s) <= 64 && zoneSyntax.MatchString(s) }

// parseTimezoneFile reads Debian's /etc/timezone: one zone name.
func parseTimezoneFile(data []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !validZoneSyntax(line) {
			return "", fmt.Errorf("%q is not a zone name", line)
		}
		return line, nil
	}
	return "", fmt.Errorf("no zone name in the file")
}

// parseEnvFile parses shell-style KEY=VALUE lines (/etc/default/locale,
// /etc/locale.conf, /etc/default/keyboard, /etc/vconsole.conf), with
// optional "export " and single or double quotes. Later keys win.
func parseEnvFile(data []byte) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		vars[k] = v
	}
	return vars
}

// localeFromEnv picks the locale the C library would use for everything:
// LC_ALL, else LANG.
func localeFromEnv(vars map[string]string) string {
	for _, k := range []string{"LC_ALL", "LANG"} {
		if v := vars[k]; v != "" {
			return normalizeLocale(v)
		}
	}
	return ""
}

var localeRE = regexp.MustCompile(`^([a-zA-Z]{2,3})(?:[_-]([a-zA-Z]{4}))?(?:[_-]([a-zA-Z]{2}|[0-9]{3}))?$`)

// normalizeLocale reduces a POSIX ("en_US.UTF-8@euro"), BCP 47 ("en-US",
// "zh-Hans-CN") or Apple ("en_US@rg=gbzzzz") locale to language_REGION
// ("en_US", "zh_CN"); "C" and "POSIX" stay as they are. What does not look
// like a locale is returned trimmed, for the record.
func normalizeLocale(s string) string {
	s = strings.TrimSpace(s)
	base, _, _ := strings.Cut(s, "@")
	base, _, _ = strings.Cut(base, ".")
	switch base {
	case "C", "POSIX":
		return base
	}
	m := localeRE.FindStringSubmatch(base)
	if m == nil {
		return s
	}
	out := strings.ToLower(m[1])
	if m[3] != "" {
		out += "_" + strings.ToUpper(m[3])
	}
	return out
}

// splitLayouts splits an XKB layout list ("us,ru") into layout names.
func splitLayouts(v string) []string {
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.ToLower(strings.TrimSpace(l)); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// consoleKeymapLayout turns a console keymap ("de-latin1-nodeadkeys",
// "uk", "us") into the XKB layout name it stands for.
func consoleKeymapLayout(keymap string) string {
	k := strings.ToLower(strings.TrimSpace(keymap))
	k, _, _ = strings.Cut(k, "-")
	switch k {
	case "uk":
		return "gb"
	case "":
		return ""
	}
	return k
}

var xorgLayoutRE = regexp.MustCompile(`(?i)Option\s+"XkbLayout"\s+"([^"]*)"`)

// parseXorgKeyboard reads the XkbLayout option of an xorg.conf.d keyboard
// snippet (written by localectl on Fedora and Arch).
func parseXorgKeyboard(data []byte) []string {
	m := xorgLayoutRE.FindSubmatch(data)
	if m == nil {
		return nil
	}
	return splitLayouts(string(m[1]))
}

// parseDefaultsString parses the output of `defaults read DOMAIN KEY` for
// a string value: the value and a newline.
func parseDefaultsString(out []byte) (string, error) {
	s := strings.TrimSpace(string(out))
	if s == "" || strings.ContainsAny(s, "\n{}()") {
		return "", fmt.Errorf("defaults output %q is not a single string", truncate(s, 80))
	}
	return s, nil
}

// parseInputSources parses `defaults read DOMAIN AppleEnabledInputSources`
// (an OpenStep plist array of dictionaries) into layout names: keyboard
// layouts by name, input methods (Korean, Japanese, Chinese …) by bundle
// id, both mapped to XKB layout names where known. Non-keyboard sources
// (emoji palette, dictation) are skipped.
func parseInputSources(out []byte) ([]string, error) {
	var sources []map[string]any
	if _, err := plist.Unmarshal(out, &sources); err != nil {
		return nil, fmt.Errorf("parse input sources: %w", err)
	}
	var layouts []string
	for _, s := range sources {
		kind, _ := s["InputSourceKind"].(string)
		var l string
		switch kind {
		case "Keyboard Layout":
			name, _ := s["KeyboardLayout Name"].(string)
			l = macLayoutName(name)
		case "Keyboard Input Method", "Input Mode":
			id, _ := s["Bundle ID"].(string)
			l = macInputMethod(id)
		}
		if l != "" && !slices.Contains(layouts, l) {
			layouts = append(layouts, l)
		}
	}
	return layouts, nil
}

// macLayouts maps macOS keyboard layout names to XKB layout names.
var macLayouts = map[string]string{
	"u.s.": "us", "abc": "us", "us extended": "us", "abc - extended": "us", "u.s. international - pc": "us", "dvorak": "us", "colemak": "us",
	"british": "gb", "british - pc": "gb", "abc - qwertz": "de", "german": "de", "swiss german": "ch", "austrian": "at",
	"french": "fr", "french - pc": "fr", "french - numerical": "fr", "canadian french - csa": "ca", "canadian - csa": "ca", "belgian": "be",
	"spanish": "es", "spanish - iso": "es", "latin american": "latam", "italian": "it", "italian - pro": "it", "portuguese": "pt", "brazilian": "br", "brazilian - abnt2": "br",
	"dutch": "nl", "danish": "dk", "swedish": "se", "swedish - pro": "se", "norwegian": "no", "finnish": "fi", "icelandic": "is", "irish": "ie",
	"polish": "pl", "polish pro": "pl", "czech": "cz", "czech - qwerty": "cz", "slovak": "sk", "hungarian": "hu", "romanian": "ro", "romanian - standard": "ro",
	"russian": "ru", "russian - pc": "ru", "russian - phonetic": "ru", "ukrainian": "ua", "ukrainian - pc": "ua", "belarusian": "by", "bulgarian": "bg",
	"serbian": "rs", "croatian": "hr", "slovenian": "si", "greek": "gr", "turkish": "tr", "turkish - qwerty": "tr", "turkish q": "tr",
	"hebrew": "il", "arabic": "ara", "arabic - pc": "ara", "persian": "ir", "hindi - transliteration": "in", "devanagari": "in", "thai": "th", "vietnamese": "vn",
	"korean": "kr", "2-set korean": "kr", "japanese": "jp", "chinese - simplified": "cn", "chinese - traditional": "tw", "mongolian": "mn", "kazakh": "kz", "georgian": "ge", "armenian": "am",
}

// macLayoutName maps a macOS layout name; unknown names are kept, lower
// case.
func macLayoutName(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if l, ok := macLayouts[n]; ok {
		return l
	}
	return n
}

// macInputMethods maps input method bundle ids to XKB layout names.
var macInputMethods = map[string]string{
	"com.apple.inputmethod.korean":             "kr",
	"com.apple.inputmethod.kotoeri":            "jp",
	"com.apple.inputmethod.japanese":           "jp",
	"com.apple.inputmethod.scim":               "cn",
	"com.apple.inputmethod.tcim":               "tw",
	"com.apple.inputmethod.tyim":               "hk",
	"com.apple.inputmethod.vietnamese":         "vn",
	"com.apple.inputmethod.tamil":              "in",
	"com.apple.inputmethod.chinesehandwriting": "cn",
}

// nonKeyboardInputMethods are input sources that say nothing about a
// language.
var nonKeyboardInputMethods = []string{"com.apple.characterpaletteim", "com.apple.pressandhold", "com.apple.inputmethod.emojifunctionrowitem", "com.apple.50onpaletteim", "com.apple.speech"}

func macInputMethod(bundleID string) string {
	id := strings.ToLower(strings.TrimSpace(bundleID))
	if id == "" {
		return ""
	}
	for _, n := range nonKeyboardInputMethods {
		if strings.HasPrefix(id, n) {
			return ""
		}
	}
	for prefix, l := range macInputMethods {
		if id == prefix || strings.HasPrefix(id, prefix+".") {
			return l
		}
	}
	return id
}

// windowsKLIDs maps Windows keyboard layout ids (KLID, as in the
// registry's Keyboard Layout\Preload values) to XKB layout names.
var windowsKLIDs = map[string]string{
	"00000409": "us", "00020409": "us", "00010409": "us", "00000809": "gb", "00001809": "ie",
	"00000407": "de", "00000807": "ch", "00000c07": "at", "0000040c": "fr", "0000080c": "be", "0000100c": "ch",
	"00000c0c": "ca", "00001009": "ca", "00011009": "ca", "0000040a": "es", "0000080a": "latam", "00000410": "it",
	"00000816": "pt", "00000416": "br", "00010416": "br", "00000413": "nl", "00000813": "be", "00000406": "dk",
	"0000041d": "se", "00000414": "no", "0000040b": "fi", "0000040f": "is", "00000415": "pl", "00010415": "pl",
	"00000405": "cz", "0000041b": "sk", "0000040e": "hu", "00000418": "ro", "00010418": "ro", "00000419": "ru",
	"00000422": "ua", "00020422": "ua", "00000423": "by", "00000402": "bg", "00030402": "bg", "00000c1a": "rs",
	"0000081a": "rs", "0000041a": "hr", "00000424": "si", "00000408": "gr", "0000041f": "tr", "0001041f": "tr",
	"0000040d": "il", "00000401": "ara", "00000429": "ir", "00000439": "in", "0000041e": "th", "0000042a": "vn",
	"00000412": "kr", "00000411": "jp", "00000804": "cn", "00000404": "tw", "00000c04": "hk", "00000450": "mn",
	"0000043f": "kz", "00000437": "ge", "0000042b": "am", "00000421": "id", "0000043e": "my",
}

var klidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}$`)

// windowsLayoutName maps a KLID; unknown but well-formed ids are kept as
// "klid:<id>", anything else is rejected.
func windowsLayoutName(klid string) (string, error) {
	k := strings.ToLower(strings.TrimSpace(klid))
	if !klidRE.MatchString(k) {
		return "", fmt.Errorf("keyboard layout id %q is not 8 hex digits", truncate(klid, 40))
	}
	if l, ok := windowsKLIDs[k]; ok {
		return l, nil
	}
	// Input method editors have ids "eXXXLLLL": the low word is the
	// language of the plain layout they stand for.
	if k[0] == 'e' {
		if l, ok := windowsKLIDs["0000"+k[4:]]; ok {
			return l, nil
		}
	}
	return "klid:" + k, nil
}

//go:embed windowszones.txt
var windowsZonesTxt []byte

// windowsZones maps Windows time zone key names to IANA names (see
// windowszones.txt).
var windowsZones = mustParseWindowsZones(windowsZonesTxt)

func mustParseWindowsZones(data []byte) map[string]string {
	m, err := parseWindowsZones(data)
	if err != nil {
		panic(fmt.Sprintf("geodrift: windowszones.txt: %v", err)) // the embedded table is checked by tests
	}
	return m
}

// parseWindowsZones parses lines "Windows key name<TAB>IANA name";
// "#" starts a comment.
func parseWindowsZones(data []byte) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		win, iana, ok := strings.Cut(line, "\t")
		win, iana = strings.TrimSpace(win), strings.TrimSpace(iana)
		if !ok || win == "" || !validZoneSyntax(iana) {
			return nil, fmt.Errorf("line %d: want \"Windows name<TAB>IANA name\", got %q", n, line)
		}
		if _, dup := m[win]; dup {
			return nil, fmt.Errorf("line %d: %q listed twice", n, win)
		}
		m[win] = iana
	}
	return m, nil
}

// windowsZoneName maps a TimeZoneKeyName registry value to an IANA name.
// The value is cut at the first NUL (some Windows builds leave garbage
// after it).
func windowsZoneName(key string) (win, iana string, err error) {
	win, _, _ = strings.Cut(key, "\x00")
	win = strings.TrimSpace(win)
	if win == "" {
		return "", "", fmt.Errorf("empty TimeZoneKeyName")
	}
	iana, ok := windowsZones[win]
	if !ok {
		return win, "", fmt.Errorf("windows time zone %q is not in the CLDR table", truncate(win, 80))
	}
	return win, iana, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

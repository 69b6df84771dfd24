package sink

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// unescape undoes a backslash escaping; ok is false on a dangling
// backslash or an escaped byte not in allowed. An unescaped byte in
// forbidden also fails.
func unescape(s, allowed, forbidden string, mapped map[byte]byte) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if strings.IndexByte(forbidden, c) >= 0 {
			return "", false
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) || strings.IndexByte(allowed, s[i]) < 0 {
			return "", false
		}
		if m, ok := mapped[s[i]]; ok {
			b.WriteByte(m)
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

// FuzzEscapers checks the CEF header, CEF extension and RFC 5424
// SD-PARAM escapers on arbitrary input: no panic, no unescaped
// separator or line break in the output, and unescaping gives the input
// back (line breaks in headers become spaces; invalid UTF-8 in SD
// values becomes U+FFFD).
func FuzzEscapers(f *testing.F) {
	for _, s := range []string{"", "plain", `a|b=c\d`, "x\ny\r", `\`, `\\|`, `"]\`, "é|=\n", "\xff\xfe]", `=\=`, "||||"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := cefHeaderEscape(s)
		got, ok := unescape(h, `\|`, "\r\n", nil)
		want := strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
		if !ok || got != want {
			t.Errorf("cefHeaderEscape(%q) = %q: unescapes to %q (ok %v), want %q", s, h, got, ok, want)
		}

		e := cefExtEscape(s)
		got, ok = unescape(e, `\=nr`, "\r\n", map[byte]byte{'n': '\n', 'r': '\r'})
		if !ok || got != s {
			t.Errorf("cefExtEscape(%q) = %q: unescapes to %q (ok %v)", s, e, got, ok)
		}

		v := sdEscape(s)
		got, ok = unescape(v, `"\]`, `"]`, nil)
		if want := strings.ToValidUTF8(s, "\uFFFD"); !ok || got != want {
			t.Errorf("sdEscape(%q) = %q: unescapes to %q (ok %v), want %q", s, v, got, ok, want)
		}
		if !utf8.ValidString(v) {
			t.Errorf("sdEscape(%q) = %q is not UTF-8", s, v)
		}

		// The whole CEF line keeps its 7 header separators whatever
		// the title and kind hold.
		ev := Event{Event: EventCreated}
		ev.Alert.Title, ev.Alert.Kind, ev.Alert.Summary = s, s, s
		line := formatCEF(ev)
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("CEF line has a line break: %q", line)
		}
		if n := unescapedPipes(line); n != 7 {
			t.Errorf("CEF line has %d unescaped |, want 7: %q", n, line)
		}
	})
}

// unescapedPipes counts the | in a CEF line's header not preceded by an
// escaping backslash (the extension may hold bare |).
func unescapedPipes(line string) int {
	n := 0
	for i := 0; i < len(line) && n < 7; i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n
}

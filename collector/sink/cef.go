package sink

import (
	"strconv"
	"strings"
	"time"
)

// CEF (ArcSight Common Event Format, version 0) rendering of an alert:
//
//	CEF:0|farmwatch|farmwatch|<Version>|<kind>|<title>|<0-10>|<extension>
//
// Header fields escape \ and | with a backslash; a line break in a
// header field becomes a space (CEF has no escape for it there). The
// extension is space-separated key=value pairs, in this order, empty
// values left out:
//
//	rt          alert last seen, ms since the epoch
//	start end   first and last seen, ms since the epoch
//	cnt         detections aggregated into the alert
//	externalId  alert id
//	act         created or updated
//	dvchost     collector name
//	cat         farmwatch/<kind>
//	msg         alert summary
//	cs1 members     member hostnames (the device id when unknown), comma-separated
//	cs2 owners      distinct member owners, comma-separated
//	cs3 deviceIds   member device ids, comma-separated
//	cs4 alertKey    the alert key
//	cs5 status      new, acknowledged, resolved or suppressed
//	cs6 consoleUrl  link to the alert
//
// Values escape \ and = with a backslash, and line breaks as \n and \r.
// Invalid UTF-8 becomes U+FFFD.
// The evidence is not in CEF (use format json or the OCSF sink for it).

// cefSeverity maps info..critical onto CEF's 0-10 scale (0-3 low, 4-6
// medium, 7-8 high, 9-10 very high).
var cefSeverity = [...]int{1, 3, 5, 8, 10}

// formatCEF renders ev as one CEF line.
func formatCEF(ev Event) string {
	a := ev.Alert
	var b strings.Builder
	b.Grow(512 + len(a.Title) + len(a.Summary) + 64*len(a.Members))
	b.WriteString("CEF:0|farmwatch|farmwatch|")
	b.WriteString(cefHeaderEscape(Version))
	b.WriteByte('|')
	kind := a.Kind
	if kind == "" {
		kind = "alert"
	}
	b.WriteString(cefHeaderEscape(kind))
	b.WriteByte('|')
	b.WriteString(cefHeaderEscape(a.Title))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(cefSeverity[clampSeverity(a.Severity)]))
	b.WriteByte('|')

	first := true
	ext := func(key, value string) {
		if value == "" {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(cefExtEscape(value))
	}
	ext("rt", millisText(a.LastSeen))
	ext("start", millisText(a.FirstSeen))
	ext("end", millisText(a.LastSeen))
	ext("cnt", strconv.Itoa(a.Count))
	ext("externalId", strconv.FormatInt(a.ID, 10))
	ext("act", ev.Event)
	ext("dvchost", ev.Collector)
	ext("cat", "farmwatch/"+kind)
	ext("msg", a.Summary)

	ms := ev.members()
	hosts := make([]string, 0, len(ms))
	ids := make([]string, 0, len(ms))
	var owners []string
	seen := map[string]bool{}
	for _, m := range ms {
		ids = append(ids, m.id)
		h := m.device.Hostname
		if h == "" {
			h = m.id
		}
		hosts = append(hosts, h)
		if o := m.device.Owner; o != "" && !seen[o] {
			seen[o] = true
			owners = append(owners, o)
		}
	}
	custom := func(n int, label, value string) {
		if value == "" {
			return
		}
		ext("cs"+strconv.Itoa(n)+"Label", label)
		ext("cs"+strconv.Itoa(n), value)
	}
	custom(1, "members", strings.Join(hosts, ","))
	custom(2, "owners", strings.Join(owners, ","))
	custom(3, "deviceIds", strings.Join(ids, ","))
	custom(4, "alertKey", a.Key)
	custom(5, "status", string(a.Status))
	custom(6, "consoleUrl", ev.ConsoleURL)
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// millisText is t in ms since the epoch, "" for the zero time.
func millisText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// cefHeaderEscape escapes a CEF header field: \ → \\, | → \|, and CR or
// LF → space.
func cefHeaderEscape(s string) string {
	if !strings.ContainsAny(s, "\\|\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r', '\n':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// cefExtEscape escapes a CEF extension value: \ → \\, = → \=, LF → \n,
// CR → \r.
func cefExtEscape(s string) string {
	if !strings.ContainsAny(s, "\\=\r\n") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

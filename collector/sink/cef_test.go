package sink

import (
	"testing"
)

// wantSampleCEF is formatCEF(sampleEvent()) with Version "dev".
const wantSampleCEF = `CEF:0|farmwatch|farmwatch|dev|farm|3 laptops \| 3 owners behind 203.0.113.7 \\ café|8|` +
	`rt=1795172400000 start=1795168800000 end=1795172400000 cnt=2 externalId=42 act=created dvchost=farmwatch-eu ` +
	`cat=farmwatch/farm msg=owners\=alice,bob,carol\nsee the console ` +
	`cs1Label=members cs1=LT\\0042,MBP-Bob,dev-c cs2Label=owners cs2=alice@example.com,bob@example.com ` +
	`cs3Label=deviceIds cs3=dev-a,dev-b,dev-c cs4Label=alertKey cs4=farm:public_ip:203.0.113.7 ` +
	`cs5Label=status cs5=new cs6Label=consoleUrl cs6=https://farmwatch.example/alerts/42`

func TestFormatCEF(t *testing.T) {
	if Version != "dev" {
		t.Skipf("built with Version %q; the expected line assumes dev", Version)
	}
	if got := formatCEF(sampleEvent()); got != wantSampleCEF {
		t.Errorf("CEF\n got %s\nwant %s", got, wantSampleCEF)
	}

	// Missing pieces are left out; severity and kind have fallbacks.
	ev := Event{Event: EventUpdated}
	ev.Alert.ID, ev.Alert.Severity, ev.Alert.Title = 7, 9, "x"
	if got, want := formatCEF(ev), `CEF:0|farmwatch|farmwatch|dev|alert|x|10|cnt=0 externalId=7 act=updated cat=farmwatch/alert`; got != want {
		t.Errorf("minimal CEF\n got %s\nwant %s", got, want)
	}
}

func TestCEFSeverity(t *testing.T) {
	t.Parallel()
	for sev, want := range map[int]string{-1: "|1|", 0: "|1|", 1: "|3|", 2: "|5|", 3: "|8|", 4: "|10|", 5: "|10|"} {
		ev := Event{Event: EventCreated}
		ev.Alert.Severity, ev.Alert.Title, ev.Alert.Kind = sev, "t", "k"
		got := formatCEF(ev)
		if want := "CEF:0|farmwatch|farmwatch|" + Version + "|k|t" + want; got[:len(want)] != want {
			t.Errorf("severity %d: %s, want prefix %s", sev, got, want)
		}
	}
}

func TestCEFEscaping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, header, ext string
	}{
		{"plain text", "plain text", "plain text"},
		{"", "", ""},
		{`a|b`, `a\|b`, `a|b`},
		{`a=b`, `a=b`, `a\=b`},
		{`C:\dir\file`, `C:\\dir\\file`, `C:\\dir\\file`},
		{"line1\nline2", "line1 line2", `line1\nline2`},
		{"cr\r\nlf", "cr  lf", `cr\r\nlf`},
		{`\|=`, `\\\|=`, `\\|\=`},
		{`trailing\`, `trailing\\`, `trailing\\`},
		{`key=value|x\y`, `key=value\|x\\y`, `key\=value|x\\y`},
		{"tab\there", "tab\there", "tab\there"},
		{"üñí|cødé=", `üñí\|cødé=`, `üñí|cødé\=`},
	} {
		if got := cefHeaderEscape(tc.in); got != tc.header {
			t.Errorf("cefHeaderEscape(%q) = %q, want %q", tc.in, got, tc.header)
		}
		if got := cefExtEscape(tc.in); got != tc.ext {
			t.Errorf("cefExtEscape(%q) = %q, want %q", tc.in, got, tc.ext)
		}
	}
}

func TestSDEscaping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"42", "42"},
		{`a"b`, `a\"b`},
		{`a\b`, `a\\b`},
		{`a]b`, `a\]b`},
		{`"]\`, `\"\]\\`},
		{"[ok] = fine", `[ok\] = fine`},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	} {
		if got := sdEscape(tc.in); got != tc.want {
			t.Errorf("sdEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

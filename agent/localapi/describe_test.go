package localapi

import (
	"strings"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

func TestDescribeLevels(t *testing.T) {
	t.Parallel()
	unreachable := sampleFacts()
	unreachable.LastDeliveryError = "dial tcp 192.0.2.1:8443: connect: connection refused"
	unreachable.LastAttempt = fixedNow.Add(-time.Minute)
	unreachable.LastDelivery = fixedNow.Add(-5 * time.Hour)
	unreachable.Queue.Depth = 7

	refused := sampleFacts()
	refused.LastDeliveryError = "collector answered 403 (revoked): device revoked"
	refused.Refused = true

	notEnrolled := Facts{Detectors: sampleFacts().Detectors, NotEnrolled: "this device is not enrolled"}

	checkFailed := sampleFacts()
	checkFailed.LastCheckError = "queue: disk full"

	firstCheck := sampleFacts()
	firstCheck.LastCheck, firstCheck.Runs, firstCheck.LastAttempt, firstCheck.LastDelivery = time.Time{}, nil, time.Time{}, time.Time{}

	dropped := sampleFacts()
	dropped.Queue.Dropped = 3

	partial := sampleFacts()
	partial.Runs = []detectors.RunResult{{Name: "kvm", Status: detectors.StatusTimeout, Error: "deadline"}}

	cases := []struct {
		name     string
		facts    Facts
		level    string
		headline string // substring
		line     string // substring of some line
	}{
		{"clean", sampleFacts(), LevelOK, "Nothing unusual found.", "Last check 3 minutes ago. Next check in 12 minutes."},
		{"info only", sampleFacts(finding(detectors.SeverityInfo, "remoteaccess", "Sanctioned AnyDesk")), LevelOK, "Nothing unusual found (1 item recorded", "Connected to collector.example:8443; the last report was sent 2 minutes ago."},
		{"low", sampleFacts(finding(detectors.SeverityLow, "remoteaccess", "SSH server")), LevelAttention, "1 thing worth a look", "  LOW: SSH server."},
		{"medium", sampleFacts(finding(detectors.SeverityMedium, "kvm", "HDMI capture stick")), LevelAttention, "worth a look", "  MEDIUM: HDMI capture stick."},
		{"high", sampleFacts(finding(detectors.SeverityHigh, "kvm", "PiKVM USB gadget")), LevelAlert, "Found: PiKVM USB gadget.", "What to do: If you did not set this up"},
		{"critical first", sampleFacts(finding(detectors.SeverityMedium, "kvm", "Odd display"), finding(detectors.SeverityCritical, "remoteaccess", "Chrome Remote Desktop unattended")), LevelAlert, "Found: Chrome Remote Desktop unattended.", "Found 2 things to look at:"},
		{"unreachable", unreachable, LevelAttention, "Not connected to the collector", "7 reports are waiting on this laptop"},
		{"refused", refused, LevelError, "refuses this laptop", "may need to be enrolled again"},
		{"not enrolled", notEnrolled, LevelError, "not enrolled", "farmwatch enroll --server URL --token TOKEN"},
		{"check failed", checkFailed, LevelError, "The last check failed.", "failed: queue: disk full."},
		{"first check", firstCheck, LevelOK, "", "No check has finished yet"},
		{"dropped", dropped, LevelAttention, "dropped", "3 low-priority reports were dropped"},
		{"detector timeout", partial, LevelAttention, "did not work", "The kvm check did not work in the last run (timeout)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := Describe(c.facts, fixedNow)
			if s.Level != c.level {
				t.Errorf("level %q, want %q\n%s", s.Level, c.level, strings.Join(s.Lines, "\n"))
			}
			if !strings.Contains(s.Headline, c.headline) || s.Headline == "" {
				t.Errorf("headline %q lacks %q", s.Headline, c.headline)
			}
			if !strings.Contains(strings.Join(s.Lines, "\n"), c.line) {
				t.Errorf("lines lack %q:\n%s", c.line, strings.Join(s.Lines, "\n"))
			}
			if !strings.HasPrefix(s.Lines[0], "farmwatch checks this laptop for KVM and screen-capture hardware and remote-control tools.") {
				t.Errorf("first line %q", s.Lines[0])
			}
			if !s.Running || !s.GeneratedAt.Equal(fixedNow) || s.CanCheckNow {
				t.Errorf("running %v generated %v can_check_now %v", s.Running, s.GeneratedAt, s.CanCheckNow)
			}
			for _, l := range s.Lines {
				if strings.Contains(l, "/secret/path") {
					t.Errorf("evidence leaked into the status: %q", l)
				}
			}
		})
	}
}

func TestDescribeScanUsesDetectorTextAndFallbacks(t *testing.T) {
	t.Parallel()
	own := finding(detectors.SeverityHigh, "remoteaccess", "AnyDesk running")
	own.Rationale, own.Remediation = "AnyDesk lets a remote person drive the laptop.", "Uninstall AnyDesk."
	bare := finding(detectors.SeverityMedium, "kvm", "Capture EDID")
	unknown := finding(detectors.SeverityInfo, "telepathy", "Mind link")
	s := DescribeScan(Facts{Findings: []detectors.Finding{bare, unknown, own}})
	if len(s.Findings) != 3 || s.Findings[0].Title != "AnyDesk running" || s.Findings[2].Title != "Mind link" {
		t.Fatalf("not sorted by severity: %+v", s.Findings)
	}
	if s.Findings[0].Why != own.Rationale || s.Findings[0].ToDo != own.Remediation {
		t.Errorf("the detector's own words were replaced: %+v", s.Findings[0])
	}
	if s.Findings[1].Why != detectorWords["kvm"].why || !strings.Contains(s.Findings[1].ToDo, "ask your IT team") {
		t.Errorf("kvm fallback: %+v", s.Findings[1])
	}
	if !strings.Contains(s.Findings[2].Why, "one of the signs") || !strings.Contains(s.Findings[2].ToDo, "Nothing to do") {
		t.Errorf("generic fallback: %+v", s.Findings[2])
	}
	if s.Findings[1].What != "Capture EDID was seen." {
		t.Errorf("what %q, want the summary", s.Findings[1].What)
	}
}

func TestDescribeCollected(t *testing.T) {
	t.Parallel()
	f := sampleFacts()
	f.Detectors = append(f.Detectors, DetectorFacts{Name: "geodrift", Description: "time zone, VPN, latency", Enabled: false})
	c := DescribeCollected(f)
	if len(c.Detectors) != 3 || c.Detectors[2].Enabled || c.Detectors[2].Looks != "time zone, VPN, latency" || c.Detectors[2].Why == "" {
		t.Errorf("detectors %+v", c.Detectors)
	}
	all := strings.Join(c.Privacy, " ")
	for _, want := range []string{"keyed hashes", "collector.example:8443", "does not read your documents"} {
		if !strings.Contains(all, want) {
			t.Errorf("privacy notes lack %q", want)
		}
	}
}

func TestSpans(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		20 * time.Second: "just now", time.Minute: "1 minute ago", 59 * time.Minute: "59 minutes ago",
		90 * time.Minute: "about 2 hours ago", 47 * time.Hour: "about 47 hours ago", 72 * time.Hour: "3 days ago",
	} {
		if got := ago(fixedNow, fixedNow.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	if got := in(fixedNow, fixedNow.Add(30*time.Second)); got != "in less than a minute" {
		t.Errorf("in(30s) = %q", got)
	}
}

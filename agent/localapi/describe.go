package localapi

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// levelRank orders the levels; a status takes the most severe of its parts.
var levelRank = map[string]int{LevelOK: 0, LevelAttention: 1, LevelAlert: 2, LevelError: 3}

// verdict accumulates the level and the headline: the first part to
// reach the highest level names the headline.
type verdict struct {
	level, headline string
}

func (v *verdict) raise(level, headline string) {
	if v.headline == "" || levelRank[level] > levelRank[v.level] {
		v.level, v.headline = level, headline
	}
}

// Describe turns the agent's facts into the status told to the device
// owner at now. It is pure: the same facts and now give the same status.
// CanCheckNow is left false; the server sets it per caller.
func Describe(f Facts, now time.Time) Status {
	s := Status{
		Running: true, AgentVersion: f.AgentVersion, Enrolled: f.Enrolled, DeviceID: f.DeviceID, StartedAt: f.StartedAt,
		LastCheck: f.LastCheck, LastCheckError: f.LastCheckError, NextCheck: f.NextCheck,
		Findings: map[string]int{}, Connection: DescribeConnection(f), Queue: f.Queue, GeneratedAt: now,
	}
	for _, fd := range f.Findings {
		s.Findings[fd.Severity.String()]++
	}
	if top, ok := highest(f.Findings); ok {
		s.Highest = top.String()
	}
	v := &verdict{level: LevelOK}
	s.Lines = append(s.Lines, intro(f.Detectors))

	if !f.Enrolled {
		s.Lines = append(s.Lines, "This laptop is not enrolled with your organisation's collector, so farmwatch does not check it or report.")
		if f.NotEnrolled != "" {
			s.Lines = append(s.Lines, "Detail: "+strings.TrimSuffix(f.NotEnrolled, ".")+".")
		}
		s.Lines = append(s.Lines, "An administrator enrolls it with `farmwatch enroll --server URL --token TOKEN`; ask your IT team.")
		v.raise(LevelError, "This laptop is not enrolled, so farmwatch cannot report.")
	} else {
		s.Lines = append(s.Lines, checkLine(f, now, v), connectionLine(s.Connection, f.Queue, now, v))
	}
	if f.Queue.Dropped > 0 {
		s.Lines = append(s.Lines, fmt.Sprintf("%s dropped because the queue on this laptop was full.", count(int(f.Queue.Dropped), "low-priority report was", "low-priority reports were")))
		v.raise(LevelAttention, "Some low-priority reports were dropped; the queue on this laptop was full.")
	}
	for _, r := range f.Runs {
		switch r.Status {
		case detectors.StatusOK, detectors.StatusUnsupported:
			continue
		}
		s.Lines = append(s.Lines, fmt.Sprintf("The %s check did not work in the last run (%s), so that part of the picture is missing.", r.Name, r.Status))
		v.raise(LevelAttention, "A check did not work in the last run.")
	}
	s.Lines = append(s.Lines, findingLines(f, v)...)
	if v.headline == "" {
		v.headline = s.Lines[len(s.Lines)-1]
	}
	s.Level, s.Headline = v.level, v.headline
	return s
}

// intro says what farmwatch checks: "farmwatch checks this laptop for
// remote-control tools, KVM … and …".
func intro(ds []DetectorFacts) string {
	var parts []string
	for _, d := range ds {
		if d.Enabled {
			parts = append(parts, checksPhrase(d))
		}
	}
	switch len(parts) {
	case 0:
		return "farmwatch runs no checks on this laptop: every detector is disabled."
	case 1:
		return "farmwatch checks this laptop for " + parts[0] + "."
	}
	return "farmwatch checks this laptop for " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1] + "."
}

func checkLine(f Facts, now time.Time, v *verdict) string {
	next := ""
	if !f.NextCheck.IsZero() && f.NextCheck.After(now) {
		next = " Next check " + in(now, f.NextCheck) + "."
	}
	switch {
	case f.LastCheck.IsZero():
		return "No check has finished yet; the first one runs shortly after the service starts." + next
	case f.LastCheckError != "":
		v.raise(LevelError, "The last check failed.")
		return fmt.Sprintf("The last check, %s, failed: %s.%s", ago(now, f.LastCheck), strings.TrimSuffix(f.LastCheckError, "."), next)
	}
	return "Last check " + ago(now, f.LastCheck) + "." + next
}

func connectionLine(c Connection, q Queue, now time.Time, v *verdict) string {
	server := serverName(c.Server)
	waiting := ""
	if q.Depth > 0 {
		waiting = " " + count(q.Depth, "report is", "reports are") + " waiting on this laptop and will be sent when the connection is back."
	}
	switch c.State {
	case ConnConnected:
		line := "Connected to " + server + "; the last report was sent " + ago(now, c.LastDelivery) + "."
		if q.Depth > 0 {
			line += " " + count(q.Depth, "report is", "reports are") + " being sent."
		}
		return line
	case ConnRefused:
		v.raise(LevelError, "The collector refuses this laptop, so its reports are not accepted.")
		return fmt.Sprintf("%s refuses this laptop (%s). Ask your IT team: the laptop may need to be enrolled again.%s", server, strings.TrimSuffix(c.LastError, "."), waiting)
	case ConnUnreachable:
		v.raise(LevelAttention, "Not connected to the collector; reports wait on this laptop.")
		since := "nothing was sent since the service started"
		if !c.LastDelivery.IsZero() {
			since = "the last report was sent " + ago(now, c.LastDelivery)
		}
		return fmt.Sprintf("Not connected to %s (%s; last try %s: %s).%s", server, since, ago(now, c.LastAttempt), strings.TrimSuffix(c.LastError, "."), waiting)
	}
	if q.Depth > 0 {
		return "Not connected yet: " + count(q.Depth, "report is", "reports are") + " about to be sent to " + server + "."
	}
	return "Nothing has been sent to " + server + " since the service started."
}

func findingLines(f Facts, v *verdict) []string {
	if f.LastCheck.IsZero() && len(f.Findings) == 0 {
		return nil
	}
	var shown, info []detectors.Finding
	for _, fd := range f.Findings {
		if fd.Severity > detectors.SeverityInfo {
			shown = append(shown, fd)
		} else {
			info = append(info, fd)
		}
	}
	if len(shown) == 0 {
		if len(info) > 0 {
			return []string{fmt.Sprintf("Nothing unusual found (%s for IT's information, such as sanctioned tools).", count(len(info), "item recorded", "items recorded"))}
		}
		return []string{"Nothing unusual found."}
	}
	sort.SliceStable(shown, func(i, j int) bool { return shown[i].Severity > shown[j].Severity })
	top := shown[0]
	switch {
	case top.Severity >= detectors.SeverityHigh:
		v.raise(LevelAlert, "Found: "+strings.TrimSuffix(top.Title, ".")+".")
	default:
		v.raise(LevelAttention, fmt.Sprintf("farmwatch found %s worth a look.", count(len(shown), "thing", "things")))
	}
	lines := []string{fmt.Sprintf("Found %s to look at:", count(len(shown), "thing", "things"))}
	for _, fd := range shown {
		o := ownerFinding(fd)
		lines = append(lines, "  "+strings.ToUpper(o.Severity)+": "+strings.TrimSuffix(o.Title, ".")+".", "    What to do: "+o.ToDo)
	}
	if len(info) > 0 {
		lines = append(lines, fmt.Sprintf("(and %s for IT's information)", count(len(info), "item recorded", "items recorded")))
	}
	return lines
}

// serverName is the collector's host:port for people ("https://" dropped).
func serverName(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// DescribeConnection derives the connection state from the facts.
func DescribeConnection(f Facts) Connection {
	c := Connection{Server: f.Server, LastDelivery: f.LastDelivery, LastAttempt: f.LastAttempt, LastError: f.LastDeliveryError}
	switch {
	case !f.Enrolled:
		c.State = ConnNotEnrolled
	case f.LastAttempt.IsZero():
		c.State = ConnNotYet
	case f.LastDeliveryError == "":
		c.State = ConnConnected
	case f.Refused:
		c.State = ConnRefused
	default:
		c.State = ConnUnreachable
	}
	return c
}

// DescribeScan tells the last check's findings in plain words, most
// severe first.
func DescribeScan(f Facts) LastScan {
	s := LastScan{At: f.LastCheck, Error: f.LastCheckError, Findings: []Finding{}, Detectors: []DetectorRun{}}
	fs := append([]detectors.Finding(nil), f.Findings...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity > fs[j].Severity })
	for _, fd := range fs {
		s.Findings = append(s.Findings, ownerFinding(fd))
	}
	for _, r := range f.Runs {
		s.Detectors = append(s.Detectors, DetectorRun{Name: r.Name, Status: string(r.Status), Error: r.Error, DurationMS: r.DurationMS})
	}
	return s
}

// DescribeCollected says what each detector looks at and why, and what
// leaves the laptop.
func DescribeCollected(f Facts) Collected {
	c := Collected{Detectors: []CollectedDetector{}, Privacy: privacyNotes(f.Server)}
	for _, d := range f.Detectors {
		c.Detectors = append(c.Detectors, CollectedDetector{Name: d.Name, Enabled: d.Enabled, Looks: d.Description, Why: whyDetector(d.Name)})
	}
	return c
}

func highest(fs []detectors.Finding) (detectors.Severity, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	top := fs[0].Severity
	for _, f := range fs[1:] {
		top = max(top, f.Severity)
	}
	return top, true
}

// ago says how long before now t was, in words.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// in says how long after now t is, in words.
func in(now, t time.Time) string {
	d := t.Sub(now)
	if d < time.Minute {
		return "in less than a minute"
	}
	return "in " + span(d)
}

func span(d time.Duration) string {
	switch {
	case d < time.Hour:
		return count(int(d/time.Minute), "minute", "minutes")
	case d < 48*time.Hour:
		h := int((d + 30*time.Minute) / time.Hour)
		return "about " + count(h, "hour", "hours")
	}
	return count(int(d/(24*time.Hour)), "day", "days")
}

// count writes "1 thing" or "3 things".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

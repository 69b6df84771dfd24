package agent

import (
	"fmt"
	"io"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// WriteReport renders a scan result for a person: what was checked, then
// the findings grouped by severity, most severe first, each with what
// matched, why it matters and what to do.
func WriteReport(w io.Writer, r *ScanResult) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "farmwatch scan of %s (%s/%s) at %s\n", orDash(r.Host.Hostname), r.Host.OS, r.Host.Arch, r.Host.CollectedAt.Format("2006-01-02 15:04:05 MST"))
	var checks []string
	for _, d := range r.Detectors {
		s := fmt.Sprintf("%s %s", d.Name, d.Status)
		if d.Status == detectors.StatusOK {
			s += fmt.Sprintf(" (%.0f ms)", d.DurationMS)
		}
		checks = append(checks, s)
	}
	fmt.Fprintf(b, "Checks: %s\n", strings.Join(checks, ", "))
	for _, d := range r.Detectors {
		if d.Error != "" {
			fmt.Fprintf(b, "  note: %s: %s\n", d.Name, d.Error)
		}
	}
	counts := make([]int, detectors.SeverityCritical+1)
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	if len(r.Findings) == 0 {
		b.WriteString("\nNothing unusual found.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	for sev := detectors.SeverityCritical; sev >= detectors.SeverityInfo; sev-- {
		if counts[sev] == 0 {
			continue
		}
		fmt.Fprintf(b, "\n%s (%d)\n", strings.ToUpper(sev.String()), counts[sev])
		for _, f := range r.Findings {
			if f.Severity != sev {
				continue
			}
			fmt.Fprintf(b, "\n  * %s\n    rule %s, confidence %.0f%%", f.Title, f.Rule, f.Confidence*100)
			if len(f.MITRE) > 0 {
				fmt.Fprintf(b, ", ATT&CK %s", strings.Join(f.MITRE, " "))
			}
			b.WriteString("\n")
			wrap(b, "What matched: ", f.Summary)
			if f.Rationale != "" {
				wrap(b, "Why it matters: ", f.Rationale)
			}
			if f.Remediation != "" {
				wrap(b, "What to do: ", f.Remediation)
			}
		}
	}
	var parts []string
	for sev := detectors.SeverityCritical; sev >= detectors.SeverityInfo; sev-- {
		parts = append(parts, fmt.Sprintf("%d %s", counts[sev], sev))
	}
	fmt.Fprintf(b, "\n%d finding(s): %s.\n", len(r.Findings), strings.Join(parts, ", "))
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes label+text indented and wrapped at 100 columns.
func wrap(b *strings.Builder, label, text string) {
	const indent, width = "    ", 100
	line := indent + label
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > width && strings.TrimSpace(line) != strings.TrimSpace(label) {
			b.WriteString(line + "\n")
			line = indent + "  " + word
			continue
		}
		if strings.HasSuffix(line, " ") {
			line += word
		} else {
			line += " " + word
		}
	}
	b.WriteString(line + "\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

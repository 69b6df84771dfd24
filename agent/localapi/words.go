package localapi

import (
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// detectorWords tell the device owner, per detector, what it checks (as
// the object of "farmwatch checks this laptop for …") and why it matters.
// A detector missing here is described by its registered Description.
var detectorWords = map[string]struct{ checks, why string }{
	"remoteaccess": {
		checks: "remote-control tools",
		why: "Remote-control software lets someone operate this laptop from somewhere else. A company laptop is meant " +
			"to be used by the person it was issued to, so IT wants to know about such software unless it is a tool IT sanctioned.",
	},
	"kvm": {
		checks: "KVM and screen-capture hardware",
		why: "A KVM or capture device plugged into this laptop lets another computer see its screen and type on it " +
			"from elsewhere, without any software on the laptop.",
	},
	"colocation": {
		checks: "many company laptops sharing one network",
		why: "Many company laptops on one home network can mean they are kept together in one place and operated by " +
			"people other than their owners.",
	},
	"geodrift": {
		checks: "a location that is hidden or far from where the owner is registered",
		why:    "A laptop that is far from its owner, or whose location is hidden behind a VPN, may be used by someone else.",
	},
}

// checksPhrase is what a detector checks, for the status's first line.
func checksPhrase(d DetectorFacts) string {
	if w, ok := detectorWords[d.Name]; ok {
		return w.checks
	}
	return strings.TrimSuffix(d.Description, ".")
}

// whyDetector is why a detector's findings matter.
func whyDetector(name string) string {
	if w, ok := detectorWords[name]; ok {
		return w.why
	}
	return "It is one of the signs IT looks for that a company laptop is not where, or with whom, it should be."
}

// privacyNotes say what leaves the laptop. They describe the report
// contract (transport.ReportContext) and must change with it.
func privacyNotes(server string) []string {
	to := "your organisation's farmwatch collector"
	if server != "" {
		to += " (" + server + ")"
	}
	return []string{
		"farmwatch looks at the software, devices and network around this laptop. It does not read your documents, " +
			"e-mail, messages or browsing, and it takes no screenshots.",
		"Network identifiers (the router's hardware address, the Wi-Fi network name and access point, neighbours' " +
			"hardware addresses) stay on this laptop: only keyed hashes of them are sent, so laptops can be compared " +
			"without revealing the raw values.",
		"What is sent: the findings with their evidence (for example the name and location of a remote-control tool), " +
			"the laptop's name and operating system, and whether each check worked, signed with this laptop's key, " +
			"over an encrypted connection to " + to + ".",
	}
}

// ownerFinding tells a finding to the device owner: its own rationale
// and remediation where the detector wrote them, otherwise the
// detector's reason and a next step by severity.
func ownerFinding(f detectors.Finding) Finding {
	why := f.Rationale
	if why == "" {
		why = whyDetector(f.Detector)
	}
	todo := f.Remediation
	if todo == "" {
		todo = todoBySeverity(f.Severity)
	}
	return Finding{
		Severity: f.Severity.String(), Detector: f.Detector, Rule: f.Rule, Confidence: f.Confidence,
		Title: f.Title, What: f.Summary, Why: why, ToDo: todo,
	}
}

func todoBySeverity(s detectors.Severity) string {
	switch {
	case s >= detectors.SeverityHigh:
		return "If you did not set this up, or do not know why it is there, tell your IT or security team now; they have received this finding too."
	case s >= detectors.SeverityLow:
		return "If this is not expected on your laptop, ask your IT team about it."
	default:
		return "Nothing to do: this is recorded for IT's information."
	}
}

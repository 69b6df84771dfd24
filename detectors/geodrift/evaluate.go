package geodrift

import (
	"fmt"
	"slices"
	"strings"

	"github.com/farmwatch/farmwatch/detectors"
)

// Rule ids.
const (
	RuleVPNRunning   = "geodrift.consumer_vpn_running"
	RuleVPNInstalled = "geodrift.consumer_vpn_installed"
	RuleTimeZone     = "geodrift.time_zone_unexpected"
)

// Rules returns every rule id this detector can emit, sorted.
func Rules() []string {
	r := []string{RuleVPNRunning, RuleVPNInstalled, RuleTimeZone}
	slices.Sort(r)
	return r
}

// mitreVPN: a consumer VPN relays the device's traffic through a server
// elsewhere (T1090 Proxy; T1090.003 Multi-hop Proxy for chained exits).
var mitreVPN = []string{"T1090"}

const (
	rationaleVPN = "A consumer VPN hides where a device really is: the company sees the VPN's exit address instead of the laptop's. " +
		"Workers operating laptop farms from abroad route their traffic through such services; Astrill VPN in particular is named in " +
		"Mandiant, Secureworks and LevelBlue reporting on DPRK IT workers. Installed but not running, it still shows intent and capability."
	remediationVPN = "Ask the device's user why the VPN client is there; remove it unless the business needs it. " +
		"If the organisation approves this client, list its id under settings.geodrift.sanctioned."
	rationaleTZ = "The system time zone is normally the zone the device is used in. A zone outside the fleet's expected ones " +
		"suggests the laptop is, or is operated from, somewhere else; on its own it is weak evidence (travellers, mis-set clocks), " +
		"which is why it is low severity and is weighed by the collector against the device's IP location."
	remediationTZ = "Compare with the device's registered location and its IP location in the collector. If the zone is legitimate " +
		"for this fleet, add it to settings.geodrift.expected_time_zones."
)

// Evaluate implements detectors.Detector. It is pure.
func (d *detector) Evaluate(cur, _ detectors.Observation, pol detectors.Policy) []detectors.Finding {
	o, ok := cur.(*Observation)
	if !ok || o == nil {
		return nil
	}
	p, _ := pol.(*Policy)
	return evaluate(o, p)
}

func evaluate(o *Observation, p *Policy) []detectors.Finding {
	var out []detectors.Finding
	for i := range o.VPNClients {
		if f, ok := vpnFinding(&o.VPNClients[i], p); ok {
			out = append(out, f)
		}
	}
	if f, ok := timeZoneFinding(o, p); ok {
		out = append(out, f)
	}
	return out
}

// vpnFinding reports a consumer VPN client the policy does not sanction:
// running at medium, installed only at low, and at high either way for a
// client named in laptop-farm reporting (Astrill).
func vpnFinding(c *VPNClient, p *Policy) (detectors.Finding, bool) {
	if c.Category != CategoryConsumer || p.sanctioned(c.ID) {
		return detectors.Finding{}, false
	}
	rule, sev, conf, state := RuleVPNInstalled, detectors.SeverityLow, 0.6, "installed"
	if c.Running {
		rule, sev, conf, state = RuleVPNRunning, detectors.SeverityMedium, 0.8, "running"
	}
	title := fmt.Sprintf("Consumer VPN %s %s", c.Name, state)
	if c.Reported {
		sev = detectors.SeverityHigh
		conf += 0.1
		title += " (named in laptop-farm reporting)"
	}
	details := make([]string, 0, len(c.Evidence))
	for _, e := range c.Evidence {
		details = append(details, e.Source+": "+e.Detail)
	}
	summary := fmt.Sprintf("%s, a consumer VPN client, is %s on this device", c.Name, state)
	if len(c.Evidence) > 0 {
		summary += fmt.Sprintf(" (%s: %s", c.Evidence[0].Source, c.Evidence[0].Detail)
		if n := len(c.Evidence) - 1; n > 0 {
			summary += fmt.Sprintf("; %d more", n)
		}
		summary += ")"
	}
	summary += "."
	return detectors.Finding{
		ID:          detectors.FindingID(rule, c.ID),
		Rule:        rule,
		Severity:    sev,
		Confidence:  conf,
		Title:       title,
		Summary:     summary,
		Rationale:   rationaleVPN,
		Remediation: remediationVPN,
		Evidence: map[string]any{
			"client":      c.ID,
			"client_name": c.Name,
			"category":    c.Category,
			"running":     c.Running,
			"reported":    c.Reported,
			"evidence":    details,
		},
		MITRE: mitreVPN,
	}, true
}

// timeZoneFinding reports a time zone outside the policy's expected ones.
// An unknown zone raises nothing (the observation lists the error), and
// neither does a policy without expected zones.
func timeZoneFinding(o *Observation, p *Policy) (detectors.Finding, bool) {
	if p == nil || len(p.ExpectedTimeZones) == 0 || o.TimeZone.Name == "" || slices.Contains(p.ExpectedTimeZones, o.TimeZone.Name) {
		return detectors.Finding{}, false
	}
	tz := o.TimeZone
	offset := formatOffset(tz.UTCOffsetSeconds)
	ev := map[string]any{
		"time_zone":           tz.Name,
		"utc_offset":          offset,
		"source":              tz.Source,
		"expected_time_zones": slices.Clone(p.ExpectedTimeZones),
	}
	if tz.WindowsName != "" {
		ev["windows_time_zone"] = tz.WindowsName
	}
	return detectors.Finding{
		ID:         detectors.FindingID(RuleTimeZone, tz.Name),
		Rule:       RuleTimeZone,
		Severity:   detectors.SeverityLow,
		Confidence: 0.5,
		Title:      "Time zone " + tz.Name + " is not one the fleet expects",
		Summary: fmt.Sprintf("The device's time zone is %s (UTC%s), which is not among the expected zones %s.",
			tz.Name, offset, strings.Join(p.ExpectedTimeZones, ", ")),
		Rationale:   rationaleTZ,
		Remediation: remediationTZ,
		Evidence:    ev,
		MITRE:       []string{},
	}, true
}

// formatOffset writes an offset in seconds as "+09:00" / "-05:00".
func formatOffset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return fmt.Sprintf("%s%02d:%02d", sign, sec/3600, sec%3600/60)
}

package geo

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Home is the owner's registered home from the roster.
type Home struct {
	Owner     string
	City      string
	Country   string
	HasCoords bool
	Latitude  float64
	Longitude float64
	TimeZone  string
}

// Seen is one value of a device's history (a country, a network
// identity) with when it was first and last reported.
type Seen struct {
	Value     string
	FirstSeen time.Time
	LastSeen  time.Time
	Reports   int
}

// Baseline is a device's own geo history before this report.
type Baseline struct {
	// FirstSeen is the device's first judged report; zero for a device
	// never judged (it is learning).
	FirstSeen time.Time
	Countries []Seen
	Networks  []Seen
}

// Input is everything one judgement looks at.
type Input struct {
	DeviceID string
	// Now is the time of the report (the rules read no clock).
	Now time.Time
	// Loc is the public IP's location; a zero Location when unknown.
	Loc Location
	// Home is the owner's registered home, nil when the owner or the
	// roster entry is unknown.
	Home *Home
	// Signals are the agent's geo signals (nil from a heartbeat or an
	// agent without the geodrift detector).
	Signals *detectors.GeoSignals
	// Networks are the report's network identities ("gw:HASH",
	// "bssid:HASH"); see NetworkIDs.
	Networks []string
	Baseline Baseline
}

// Verdict is the outcome of one judgement.
type Verdict struct {
	Findings []detectors.Finding
	// Judged lists the condition rules (not the event rules) that had the
	// data to decide, fired or not. A rule not judged (its data missing,
	// the device learning) keeps whatever state it had: an open alert of
	// a rule judged and not fired has cleared.
	Judged []string
}

// Fired reports whether the verdict holds a finding of rule.
func (v Verdict) Fired(rule string) bool {
	return slices.ContainsFunc(v.Findings, func(f detectors.Finding) bool { return f.Rule == rule })
}

// NetworkIDs turns a report's hashed network identity into history
// values: "gw:" + gateway hash, "bssid:" + each BSSID hash.
func NetworkIDs(gatewayHash string, bssidHashes []string) []string {
	var out []string
	if gatewayHash != "" {
		out = append(out, "gw:"+gatewayHash)
	}
	for _, b := range bssidHashes {
		if b != "" {
			out = append(out, "bssid:"+b)
		}
	}
	return out
}

// Judge applies every enabled rule. o must have gone through
// WithDefaults. Pure: no I/O, no clock.
func Judge(in Input, o Options) Verdict {
	j := judgement{in: in, o: o, exempt: exempt(in.Loc, o)}
	j.farAndCountry()
	j.hosting()
	j.impossible()
	j.drift()
	j.timezone()
	return j.v
}

type judgement struct {
	in     Input
	o      Options
	exempt bool
	v      Verdict
}

func exempt(loc Location, o Options) bool {
	if !loc.IP.IsValid() {
		return false
	}
	for _, p := range o.ExemptPrefixes {
		if p.Contains(loc.IP) {
			return true
		}
	}
	return false
}

func (j *judgement) on(rule string) bool { return !j.o.Disabled[rule] }

func (j *judgement) judged(rule string) { j.v.Judged = append(j.v.Judged, rule) }

func (j *judgement) fire(rule string, confidence float64, title, summary string, ev map[string]any, mitre ...string) {
	ev["device_id"] = j.in.DeviceID
	j.v.Findings = append(j.v.Findings, detectors.Finding{
		ID: detectors.FindingID(rule, j.in.DeviceID), Detector: Detector, Rule: rule,
		Severity: j.o.Severities[rule], Confidence: confidence, Title: title, Summary: summary,
		Evidence: ev, MITRE: mitre, ObservedAt: j.in.Now,
	})
}

func (j *judgement) ipEvidence() map[string]any {
	l := j.in.Loc
	m := map[string]any{"ip": l.IP.String()}
	if l.Country != "" {
		m["country"] = l.Country
	}
	if l.City != "" {
		m["city"] = l.City
	}
	if l.HasCoords {
		m["latitude"], m["longitude"], m["accuracy_radius_km"] = l.Latitude, l.Longitude, l.AccuracyKM
	}
	if l.ASN != 0 {
		m["asn"], m["as_org"] = l.ASN, l.ASOrg
	}
	return m
}

func (j *judgement) homeEvidence() map[string]any {
	h := j.in.Home
	m := map[string]any{"owner": h.Owner, "country": h.Country}
	if h.City != "" {
		m["city"] = h.City
	}
	if h.HasCoords {
		m["latitude"], m["longitude"] = h.Latitude, h.Longitude
	}
	return m
}

func place(city, country string) string {
	switch {
	case city != "" && country != "":
		return city + ", " + country
	case country != "":
		return country
	case city != "":
		return city
	}
	return "an unknown place"
}

// farAndCountry: geo.far_from_home and geo.other_country.
func (j *judgement) farAndCountry() {
	h, l := j.in.Home, j.in.Loc
	if h == nil || j.exempt {
		return
	}
	otherCountry := h.Country != "" && l.Country != "" && h.Country != l.Country
	if j.on(RuleOtherCountry) && h.Country != "" && l.Country != "" {
		j.judged(RuleOtherCountry)
		if otherCountry {
			ev := map[string]any{"home": j.homeEvidence(), "ip_location": j.ipEvidence()}
			if h.HasCoords && l.HasCoords {
				ev["distance_km"] = roundKM(DistanceKM(h.Latitude, h.Longitude, l.Latitude, l.Longitude))
			}
			j.fire(RuleOtherCountry, 0.8, "Device in another country than its owner's home",
				fmt.Sprintf("The device's public IP %s is in %s; its owner %s is registered in %s.",
					l.IP, place(l.City, l.Country), h.Owner, place(h.City, h.Country)), ev)
		}
	}
	if !j.on(RuleFarFromHome) || !h.HasCoords || !l.HasCoords {
		return
	}
	j.judged(RuleFarFromHome)
	// Abroad is other_country's finding, unless that rule is off.
	if otherCountry && j.on(RuleOtherCountry) {
		return
	}
	d := DistanceKM(h.Latitude, h.Longitude, l.Latitude, l.Longitude)
	margin := l.AccuracyKM + j.o.HomeErrorKM
	least := math.Max(0, d-margin)
	if least <= j.o.FarKM {
		return
	}
	j.fire(RuleFarFromHome, 0.6, "Device far from its owner's home",
		fmt.Sprintf("The device's public IP %s is located in %s, %.0f km from %s's registered home in %s: at least %.0f km once the IP's accuracy radius (%.0f km) and the home's error (%.0f km) are granted, over the %.0f km threshold.",
			l.IP, place(l.City, l.Country), d, h.Owner, place(h.City, h.Country), least, l.AccuracyKM, j.o.HomeErrorKM, j.o.FarKM),
		map[string]any{
			"home": j.homeEvidence(), "ip_location": j.ipEvidence(),
			"distance_km": roundKM(d), "accuracy_radius_km": l.AccuracyKM, "home_error_km": j.o.HomeErrorKM,
			"min_distance_km": roundKM(least), "threshold_km": j.o.FarKM,
		})
}

// hosting: geo.hosting_asn.
func (j *judgement) hosting() {
	l := j.in.Loc
	if !j.on(RuleHostingASN) || l.ASN == 0 && l.ASOrg == "" {
		return
	}
	j.judged(RuleHostingASN)
	if j.exempt || j.o.AllowedASNs[l.ASN] {
		return
	}
	var why string
	if name, ok := j.o.HostingASNs[l.ASN]; ok {
		why = fmt.Sprintf("AS%d is on the hosting/VPN list (%s)", l.ASN, name)
	} else if l.ASOrg != "" {
		org := strings.ToLower(l.ASOrg)
		for _, p := range j.o.HostingOrgPatterns {
			if strings.Contains(org, p) {
				why = fmt.Sprintf("the AS organisation %q matches %q", l.ASOrg, p)
				break
			}
		}
	}
	if why == "" {
		return
	}
	ev := j.ipEvidence()
	ev["matched"] = why
	j.fire(RuleHostingASN, 0.8, "Device egresses through a hosting or VPN network",
		fmt.Sprintf("The device's public IP %s belongs to AS%d %s: %s. A managed laptop at home or in an office does not reach the internet from a data centre; a VPN exit does.",
			l.IP, l.ASN, l.ASOrg, why),
		map[string]any{"ip_location": ev}, "T1090")
}

// landmarkBound is one usable landmark measurement.
type landmarkBound struct {
	detectors.LandmarkRTT
	radius float64
}

func (j *judgement) landmarks() []landmarkBound {
	if j.in.Signals == nil {
		return nil
	}
	var out []landmarkBound
	for _, lm := range j.in.Signals.Landmarks {
		if lm.Error != "" || lm.RTTMS <= 0 || math.IsNaN(lm.RTTMS) || math.IsInf(lm.RTTMS, 0) || !validCoords(lm.Latitude, lm.Longitude) {
			continue
		}
		out = append(out, landmarkBound{LandmarkRTT: lm, radius: FeasibleRadiusKM(lm.RTTMS)})
	}
	return out
}

// impossible: geo.impossible_location.
func (j *judgement) impossible() {
	if !j.on(RuleImpossibleLocation) {
		return
	}
	lms := j.landmarks()
	l, h := j.in.Loc, j.in.Home
	ipUsable := l.HasCoords && !j.exempt
	homeUsable := h != nil && h.HasCoords
	if len(lms) == 0 || !ipUsable && !homeUsable {
		return
	}
	lmErr := j.o.LandmarkErrorKM
	// Bounds that exclude each other cannot all hold: the connects were
	// answered by something nearer than the landmarks (a proxy that
	// terminates TCP). Such RTTs say nothing about where the laptop is.
	for a := range lms {
		for b := a + 1; b < len(lms); b++ {
			d := DistanceKM(lms[a].Latitude, lms[a].Longitude, lms[b].Latitude, lms[b].Longitude)
			if d-2*lmErr > lms[a].radius+lms[b].radius {
				return
			}
		}
	}
	j.judged(RuleImpossibleLocation)
	var rows []map[string]any
	var ipBy, homeBy []string
	for _, lm := range lms {
		row := map[string]any{
			"name": lm.Name, "latitude": lm.Latitude, "longitude": lm.Longitude,
			"rtt_ms": lm.RTTMS, "feasible_radius_km": roundKM(lm.radius),
		}
		if ipUsable {
			d := DistanceKM(l.Latitude, l.Longitude, lm.Latitude, lm.Longitude)
			excess := d - l.AccuracyKM - lmErr - lm.radius
			row["distance_to_ip_km"] = roundKM(d)
			row["excludes_ip"] = excess > 0
			if excess > 0 {
				ipBy = append(ipBy, lm.Name)
			}
		}
		if homeUsable {
			d := DistanceKM(h.Latitude, h.Longitude, lm.Latitude, lm.Longitude)
			excess := d - j.o.HomeErrorKM - lmErr - lm.radius
			row["distance_to_home_km"] = roundKM(d)
			row["excludes_home"] = excess > 0
			if excess > 0 {
				homeBy = append(homeBy, lm.Name)
			}
		}
		rows = append(rows, row)
	}
	ipOut := len(ipBy) > 0
	homeOut := len(homeBy) >= j.o.HomeMinLandmarks
	if !ipOut && !homeOut {
		return
	}
	var parts []string
	if ipOut {
		parts = append(parts, fmt.Sprintf("the public IP %s, located in %s, is farther from %s than light in fibre travels in half the measured round trip, even granting its %.0f km accuracy radius and %.0f km landmark error: the IP is a relay or VPN exit, not where the laptop is",
			l.IP, place(l.City, l.Country), strings.Join(ipBy, ", "), l.AccuracyKM, lmErr))
	}
	if homeOut {
		parts = append(parts, fmt.Sprintf("%d landmarks (%s) bound the laptop's position to areas that exclude %s's registered home in %s, granting %.0f km home error and %.0f km landmark error: the laptop is not at home",
			len(homeBy), strings.Join(homeBy, ", "), h.Owner, place(h.City, h.Country), j.o.HomeErrorKM, lmErr))
	}
	ev := map[string]any{
		"landmarks": rows, "fibre_km_per_ms": FibreKMPerMS, "bound": "feasible radius = rtt/2 × 200 km/ms",
		"landmark_error_km": lmErr, "ip_excluded": ipOut, "home_excluded": homeOut,
	}
	if ipUsable {
		ev["ip_location"] = j.ipEvidence()
	}
	if homeUsable {
		ev["home"] = j.homeEvidence()
		ev["home_error_km"] = j.o.HomeErrorKM
		ev["home_min_landmarks"] = j.o.HomeMinLandmarks
	}
	j.fire(RuleImpossibleLocation, 0.9, "Physically impossible location",
		"Round-trip times to landmark servers show that "+strings.Join(parts, "; and ")+".", ev, "T1090")
}

// drift: geo.new_country and geo.new_network against the baseline.
func (j *judgement) drift() {
	b := j.in.Baseline
	if b.FirstSeen.IsZero() || j.in.Now.Sub(b.FirstSeen) < j.o.LearningPeriod {
		return
	}
	learnt := b.FirstSeen.Add(j.o.LearningPeriod)
	if c := j.in.Loc.Country; j.on(RuleNewCountry) && c != "" && !j.exempt && !slices.ContainsFunc(b.Countries, func(s Seen) bool { return s.Value == c }) {
		j.fire(RuleNewCountry, 0.6, "Device reports from a new country",
			fmt.Sprintf("The device reports from %s (IP %s) for the first time; before it reported only from %s.",
				place(j.in.Loc.City, c), j.in.Loc.IP, seenList(b.Countries)),
			map[string]any{"country": c, "ip_location": j.ipEvidence(), "known_countries": seenEvidence(b.Countries), "learning_ended_at": learnt})
	}
	if nets := j.in.Networks; j.on(RuleNewNetwork) && len(nets) > 0 {
		for _, n := range nets {
			if slices.ContainsFunc(b.Networks, func(s Seen) bool { return s.Value == n }) {
				return
			}
		}
		ev := map[string]any{"network_ids": nets, "known_networks": len(b.Networks), "learning_ended_at": learnt}
		if last := lastSeen(b.Networks); last != nil {
			ev["last_known_network"] = map[string]any{"id": last.Value, "first_seen": last.FirstSeen, "last_seen": last.LastSeen, "reports": last.Reports}
		}
		j.fire(RuleNewNetwork, 0.5, "Device on a network it was never seen on",
			fmt.Sprintf("None of the device's network identities (%s) was seen before among its %d known ones.", strings.Join(nets, ", "), len(b.Networks)), ev)
	}
}

func seenList(ss []Seen) string {
	if len(ss) == 0 {
		return "nowhere"
	}
	vs := make([]string, len(ss))
	for i, s := range ss {
		vs[i] = s.Value
	}
	return strings.Join(vs, ", ")
}

func seenEvidence(ss []Seen) []map[string]any {
	out := make([]map[string]any, len(ss))
	for i, s := range ss {
		out[i] = map[string]any{"value": s.Value, "first_seen": s.FirstSeen, "last_seen": s.LastSeen, "reports": s.Reports}
	}
	return out
}

func lastSeen(ss []Seen) *Seen {
	var last *Seen
	for i := range ss {
		if last == nil || ss[i].LastSeen.After(last.LastSeen) {
			last = &ss[i]
		}
	}
	return last
}

// timezone: geo.timezone_mismatch.
func (j *judgement) timezone() {
	s, l := j.in.Signals, j.in.Loc
	if !j.on(RuleTimezoneMismatch) || s == nil || s.TimeZone == "" || l.Country == "" || j.exempt {
		return
	}
	ccs := ZoneCountries(s.TimeZone)
	if len(ccs) == 0 {
		return
	}
	j.judged(RuleTimezoneMismatch)
	if slices.Contains(ccs, l.Country) {
		return
	}
	j.fire(RuleTimezoneMismatch, 0.6, "Device time zone does not fit its IP's country",
		fmt.Sprintf("The device runs in time zone %s (used in %s) but its public IP %s is in %s.",
			s.TimeZone, strings.Join(ccs, ", "), l.IP, place(l.City, l.Country)),
		map[string]any{"time_zone": s.TimeZone, "utc_offset_s": s.UTCOffsetSeconds, "zone_countries": ccs, "ip_location": j.ipEvidence()})
}

package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Rule ids.
const (
	RuleFarFromHome        = "geo.far_from_home"
	RuleOtherCountry       = "geo.other_country"
	RuleHostingASN         = "geo.hosting_asn"
	RuleImpossibleLocation = "geo.impossible_location"
	RuleNewCountry         = "geo.new_country"
	RuleNewNetwork         = "geo.new_network"
	RuleTimezoneMismatch   = "geo.timezone_mismatch"
)

// Detector is the Finding.Detector of geo findings.
const Detector = "geo"

// Rules are every rule id, in evaluation order.
var Rules = []string{RuleFarFromHome, RuleOtherCountry, RuleHostingASN, RuleImpossibleLocation, RuleNewCountry, RuleNewNetwork, RuleTimezoneMismatch}

// eventRules report a change that happened (drift), not a condition that
// holds: they are never "cleared" by a later report.
var eventRules = []string{RuleNewCountry, RuleNewNetwork}

// IsEvent reports whether rule reports a one-off change rather than a
// lasting condition.
func IsEvent(rule string) bool { return slices.Contains(eventRules, rule) }

// DefaultSeverities are the rules' severities unless configured:
//
//   - other_country, hosting_asn, impossible_location: high. A country is
//     what GeoIP gets right (≈99%); VPN/hosting egress on a managed laptop
//     is what every laptop-farm report names (Astrill); a speed-of-light
//     violation is physics, not statistics.
//   - far_from_home, timezone_mismatch, new_country: medium. City-level
//     GeoIP is often off by hundreds of km (mobile carriers, CGNAT), a
//     time zone is a setting, and people travel: each needs corroboration.
//   - new_network: low. Cafés and hotels are new networks too; it is
//     context for the other alerts.
var DefaultSeverities = map[string]detectors.Severity{
	RuleFarFromHome:        detectors.SeverityMedium,
	RuleOtherCountry:       detectors.SeverityHigh,
	RuleHostingASN:         detectors.SeverityHigh,
	RuleImpossibleLocation: detectors.SeverityHigh,
	RuleNewCountry:         detectors.SeverityMedium,
	RuleNewNetwork:         detectors.SeverityLow,
	RuleTimezoneMismatch:   detectors.SeverityMedium,
}

// Defaults.
const (
	DefaultFarKM            = 500
	DefaultLandmarkErrorKM  = 25
	DefaultHomeErrorKM      = 25
	DefaultHomeMinLandmarks = 2
	DefaultLearningPeriod   = 7 * 24 * time.Hour
)

// Options tune the rules. The zero value of a field means its default
// (WithDefaults); Disabled turns rules off.
type Options struct {
	// FarKM: a device whose IP location is farther than this from its
	// owner's registered home (after granting accuracy radius and
	// HomeErrorKM) is far from home.
	FarKM float64
	// HostingASNs and HostingOrgPatterns (lower-case substrings of the AS
	// organisation) name hosting and VPN networks. AllowedASNs are never
	// hosting (your SASE or cloud VPN egress).
	HostingASNs        map[uint32]string
	HostingOrgPatterns []string
	AllowedASNs        map[uint32]bool
	// ExemptPrefixes are public ranges of your own egress (corporate VPN
	// concentrators, offices): a device behind them is not located by its
	// IP, so the IP rules do not judge it.
	ExemptPrefixes []netip.Prefix
	// LandmarkErrorKM is how far a landmark's published coordinates may
	// be from the server (a city centre for an anycast-free host).
	LandmarkErrorKM float64
	// HomeErrorKM is how far the roster's coordinates may be from the
	// actual home (a city centre or postcode centroid).
	HomeErrorKM float64
	// HomeMinLandmarks is how many landmarks must exclude the registered
	// home before the device is declared not at home.
	HomeMinLandmarks int
	// LearningPeriod after a device's first located report: countries and
	// networks are learnt, not alerted on.
	LearningPeriod time.Duration
	// Severities override DefaultSeverities per rule.
	Severities map[string]detectors.Severity
	// Disabled rules are not evaluated.
	Disabled map[string]bool
}

// WithDefaults fills unset fields.
func (o Options) WithDefaults() Options {
	if o.FarKM == 0 {
		o.FarKM = DefaultFarKM
	}
	if o.LandmarkErrorKM == 0 {
		o.LandmarkErrorKM = DefaultLandmarkErrorKM
	}
	if o.HomeErrorKM == 0 {
		o.HomeErrorKM = DefaultHomeErrorKM
	}
	if o.HomeMinLandmarks == 0 {
		o.HomeMinLandmarks = DefaultHomeMinLandmarks
	}
	if o.LearningPeriod == 0 {
		o.LearningPeriod = DefaultLearningPeriod
	}
	sev := make(map[string]detectors.Severity, len(Rules))
	for r, s := range DefaultSeverities {
		sev[r] = s
	}
	for r, s := range o.Severities {
		sev[r] = s
	}
	o.Severities = sev
	pats := make([]string, 0, len(o.HostingOrgPatterns))
	for _, p := range o.HostingOrgPatterns {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			pats = append(pats, p)
		}
	}
	o.HostingOrgPatterns = pats
	return o
}

// Validate checks options after WithDefaults.
func (o Options) Validate() error {
	var errs []error
	if o.FarKM < 0 || o.FarKM > 20040 {
		errs = append(errs, fmt.Errorf("far_km %v: between 0 and 20040 (half the Earth's circumference)", o.FarKM))
	}
	if o.LandmarkErrorKM < 0 || o.HomeErrorKM < 0 {
		errs = append(errs, errors.New("landmark_error_km and home_error_km must not be negative"))
	}
	if o.HomeMinLandmarks < 1 {
		errs = append(errs, fmt.Errorf("home_min_landmarks %d: at least 1", o.HomeMinLandmarks))
	}
	if o.LearningPeriod < 0 {
		errs = append(errs, fmt.Errorf("learning_period %s: must not be negative", o.LearningPeriod))
	}
	for r, s := range o.Severities {
		if !slices.Contains(Rules, r) {
			errs = append(errs, fmt.Errorf("severities: unknown rule %q (rules: %s)", r, strings.Join(Rules, ", ")))
		} else if s < detectors.SeverityInfo || s > detectors.SeverityCritical {
			errs = append(errs, fmt.Errorf("severities.%s: invalid severity %d", r, int(s)))
		}
	}
	for r := range o.Disabled {
		if !slices.Contains(Rules, r) {
			errs = append(errs, fmt.Errorf("disabled: unknown rule %q (rules: %s)", r, strings.Join(Rules, ", ")))
		}
	}
	return errors.Join(errs...)
}

// DefaultHostingASNMap is DefaultHostingASNs as the map Options takes.
func DefaultHostingASNMap() map[uint32]string {
	m := make(map[uint32]string, len(DefaultHostingASNs))
	for _, h := range DefaultHostingASNs {
		m[h.ASN] = h.Name + ", " + h.Kind + " (" + HostingSource + ")"
	}
	return m
}

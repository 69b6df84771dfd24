package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/geo"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// GeoIPConfig is the geoip section of collector.yaml (docs/geoip.md).
type GeoIPConfig struct {
	// CityDB and ASNDB are MaxMind DB files (GeoLite2/GeoIP2 City and
	// ASN); "" turns off the rules that need them.
	CityDB string `yaml:"city_db"`
	ASNDB  string `yaml:"asn_db"`
	// ReloadInterval is how often the files are checked for a new
	// version (modification time or size changed).
	ReloadInterval Duration `yaml:"reload_interval"`
	// AlertMinSeverity: geo findings at or above it raise an alert.
	AlertMinSeverity string  `yaml:"alert_min_severity"`
	FarKM            float64 `yaml:"far_km"`
	// HostingASNs are added to the built-in list unless
	// DefaultHostingASNs is false ("AS9009" or 9009).
	HostingASNs        []string `yaml:"hosting_asns"`
	DefaultHostingASNs bool     `yaml:"default_hosting_asns"`
	HostingOrgPatterns []string `yaml:"hosting_org_patterns"`
	AllowedASNs        []string `yaml:"allowed_asns"`
	ExemptCIDRs        []string `yaml:"exempt_cidrs"`
	LandmarkErrorKM    float64  `yaml:"landmark_error_km"`
	HomeErrorKM        float64  `yaml:"home_error_km"`
	HomeMinLandmarks   int      `yaml:"home_min_landmarks"`
	LearningPeriod     Duration `yaml:"learning_period"`
	// Severities maps a rule id to a severity or "off".
	Severities map[string]string `yaml:"severities"`
}

func defaultGeoIP() GeoIPConfig {
	return GeoIPConfig{
		ReloadInterval: Duration(time.Minute), AlertMinSeverity: "medium", FarKM: geo.DefaultFarKM,
		DefaultHostingASNs: true, HostingOrgPatterns: slices.Clone(geo.DefaultHostingOrgPatterns),
		LandmarkErrorKM: geo.DefaultLandmarkErrorKM, HomeErrorKM: geo.DefaultHomeErrorKM,
		HomeMinLandmarks: geo.DefaultHomeMinLandmarks, LearningPeriod: Duration(geo.DefaultLearningPeriod),
	}
}

// GeoOptions converts and checks the geoip section.
func (c *Config) GeoOptions() (geo.Options, error) {
	g := c.GeoIP
	var errs []error
	o := geo.Options{
		FarKM: g.FarKM, HostingASNs: map[uint32]string{}, HostingOrgPatterns: g.HostingOrgPatterns, AllowedASNs: map[uint32]bool{},
		LandmarkErrorKM: g.LandmarkErrorKM, HomeErrorKM: g.HomeErrorKM, HomeMinLandmarks: g.HomeMinLandmarks,
		LearningPeriod: time.Duration(g.LearningPeriod), Severities: map[string]detectors.Severity{}, Disabled: map[string]bool{},
	}
	if g.FarKM <= 0 {
		errs = append(errs, fmt.Errorf("geoip.far_km %v: must be positive", g.FarKM))
	}
	if g.HomeMinLandmarks < 1 {
		errs = append(errs, fmt.Errorf("geoip.home_min_landmarks %d: at least 1", g.HomeMinLandmarks))
	}
	if g.LearningPeriod <= 0 {
		errs = append(errs, errors.New("geoip.learning_period: must be positive"))
	}
	if time.Duration(g.ReloadInterval) < time.Second {
		errs = append(errs, errors.New("geoip.reload_interval: at least 1s"))
	}
	if _, err := detectors.ParseSeverity(g.AlertMinSeverity); err != nil {
		errs = append(errs, fmt.Errorf("geoip.alert_min_severity: %w", err))
	}
	if g.DefaultHostingASNs {
		o.HostingASNs = geo.DefaultHostingASNMap()
	}
	for _, s := range g.HostingASNs {
		n, err := parseASN(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip.hosting_asns: %w", err))
			continue
		}
		o.HostingASNs[n] = "configured in geoip.hosting_asns"
	}
	for _, s := range g.AllowedASNs {
		n, err := parseASN(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip.allowed_asns: %w", err))
			continue
		}
		o.AllowedASNs[n] = true
	}
	for _, s := range g.ExemptCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip.exempt_cidrs: %w", err))
			continue
		}
		o.ExemptPrefixes = append(o.ExemptPrefixes, p.Masked())
	}
	for rule, sev := range g.Severities {
		if !slices.Contains(geo.Rules, rule) {
			errs = append(errs, fmt.Errorf("geoip.severities: unknown rule %q (rules: %s)", rule, strings.Join(geo.Rules, ", ")))
			continue
		}
		if strings.EqualFold(strings.TrimSpace(sev), "off") {
			o.Disabled[rule] = true
			continue
		}
		v, err := detectors.ParseSeverity(sev)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip.severities.%s: %w (or off)", rule, err))
			continue
		}
		o.Severities[rule] = v
	}
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("geoip: %w", err))
	}
	return o, errors.Join(errs...)
}

// parseASN reads "AS9009", "as9009" or "9009".
func parseASN(s string) (uint32, error) {
	t := strings.TrimSpace(s)
	if len(t) > 2 && strings.EqualFold(t[:2], "AS") {
		t = t[2:]
	}
	n, err := strconv.ParseUint(t, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not an AS number (AS9009 or 9009)", s)
	}
	return uint32(n), nil
}

// OpenGeoIP opens the configured databases; a configured file that is
// missing or corrupt is an error naming it.
func (c *Config) OpenGeoIP() (*geo.DB, error) {
	return geo.Open(c.GeoIP.CityDB, c.GeoIP.ASNDB)
}

// geoJudge is the ingest side of collector/geo: lookup, history, rules.
type geoJudge struct {
	db       *geo.DB
	opts     geo.Options
	alertMin detectors.Severity
	// home returns the registered home of an owner (false: none).
	home func(ctx context.Context, owner string) (store.RosterEntry, bool)
}

// geoJudgement is the outcome for one report.
type geoJudgement struct {
	verdict geo.Verdict
	// prevActive are the condition rules that held before this report.
	prevActive []string
	update     *store.GeoUpdate
}

// judge locates the report's public IP and applies the rules against the
// device's history. An unreadable history is an error (the report is not
// stored, the agent retries); an undecodable database record only leaves
// the location unknown.
func (in *Ingester) judgeGeo(ctx context.Context, dev store.Device, publicIP string, r *transport.Report, at time.Time) (*geoJudgement, error) {
	g := in.Geo
	state, err := in.Store.GeoState(ctx, dev.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var loc geo.Location
	if ip, perr := netip.ParseAddr(publicIP); perr == nil {
		loc, err = g.db.Lookup(ip)
		if err != nil {
			in.Log.Warn("geoip lookup", zap.String("device_id", dev.ID), zap.Error(err))
		}
	}
	input := geo.Input{
		DeviceID: dev.ID, Now: at, Loc: loc, Signals: r.Context.Geo,
		Networks: geo.NetworkIDs(r.Context.Network.GatewayHash, r.Context.Network.BSSIDHashes),
		Baseline: geo.Baseline{FirstSeen: state.FirstSeen, Countries: seenOf(state.Countries), Networks: seenOf(state.Networks)},
	}
	if dev.Owner != "" && g.home != nil {
		if e, ok := g.home(ctx, dev.Owner); ok {
			input.Home = &geo.Home{
				Owner: e.Owner, City: e.City, Country: e.Country, TimeZone: e.TimeZone,
				HasCoords: e.Latitude != 0 || e.Longitude != 0, Latitude: e.Latitude, Longitude: e.Longitude,
			}
		}
	}
	v := geo.Judge(input, g.opts)
	active := slices.DeleteFunc(slices.Clone(state.Active), func(rule string) bool { return slices.Contains(v.Judged, rule) })
	for _, f := range v.Findings {
		in.Metrics.GeoFindings.WithLabelValues(f.Rule).Inc()
		if !geo.IsEvent(f.Rule) && !slices.Contains(active, f.Rule) {
			active = append(active, f.Rule)
		}
	}
	slices.Sort(active)
	fix := store.GeoFix{
		IP: publicIP, Country: loc.Country, City: loc.City, HasCoords: loc.HasCoords, Latitude: loc.Latitude, Longitude: loc.Longitude,
		AccuracyKM: loc.AccuracyKM, TimeZone: loc.TimeZone, ASN: loc.ASN, ASOrg: loc.ASOrg,
	}
	return &geoJudgement{
		verdict: v, prevActive: state.Active,
		update: &store.GeoUpdate{At: at, Fix: fix, Networks: input.Networks, Active: active},
	}, nil
}

func seenOf(ss []store.GeoSeen) []geo.Seen {
	out := make([]geo.Seen, len(ss))
	for i, s := range ss {
		out[i] = geo.Seen{Value: s.Value, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Reports: s.Reports}
	}
	return out
}

// geoFindings are the verdict's findings as stored findings of report r.
func geoFindings(r *transport.Report, v geo.Verdict) ([]store.StoredFinding, error) {
	out := make([]store.StoredFinding, 0, len(v.Findings))
	for _, f := range v.Findings {
		fj, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		out = append(out, store.StoredFinding{
			DeviceID: r.DeviceID, Seq: r.Seq, FindingID: f.ID, Detector: f.Detector, Rule: f.Rule,
			Severity: int(f.Severity), Confidence: f.Confidence, Title: f.Title, Summary: f.Summary,
			JSON: fj, ObservedAt: f.ObservedAt,
		})
	}
	return out, nil
}

// geoAlertKey is the aggregation key of a device's alert for one rule.
func geoAlertKey(deviceID, rule string) string { return "geo:" + deviceID + ":" + rule }

// geoAlerts raises an alert per geo finding at or above the geo alert
// threshold, and resolves the open alerts of condition rules that held on
// the device before and were judged clear on this report.
func (in *Ingester) geoAlerts(ctx context.Context, dev store.Device, r *transport.Report, j *geoJudgement) error {
	var errs []error
	host := dev.Hostname
	if host == "" {
		host = dev.ID
	}
	for _, f := range j.verdict.Findings {
		if f.Severity < in.Geo.alertMin {
			continue
		}
		ev, err := json.Marshal(map[string]any{"finding": f, "device_id": dev.ID, "hostname": dev.Hostname, "owner": dev.Owner, "report_seq": r.Seq})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		at := in.Now()
		if err := in.raise(ctx, store.Alert{
			Key: geoAlertKey(dev.ID, f.Rule), Kind: "geo", Severity: int(f.Severity),
			Title: host + ": " + f.Title, Summary: f.Summary, Members: []string{dev.ID},
			Evidence: ev, FirstSeen: at, LastSeen: at,
		}); err != nil {
			errs = append(errs, err)
		}
	}
	var cleared []string
	for _, rule := range j.prevActive {
		if slices.Contains(j.verdict.Judged, rule) && !j.verdict.Fired(rule) {
			cleared = append(cleared, rule)
		}
	}
	if len(cleared) > 0 {
		errs = append(errs, in.resolveGeo(ctx, dev, r.Seq, cleared))
	}
	return errors.Join(errs...)
}

// resolveGeo resolves the device's open (new or acknowledged) alerts of
// the cleared rules; suppressed alerts stay as the analyst left them.
func (in *Ingester) resolveGeo(ctx context.Context, dev store.Device, seq uint64, rules []string) error {
	open, _, err := in.Store.ListAlerts(ctx, store.AlertFilter{Kind: "geo", DeviceID: dev.ID, Status: []store.AlertStatus{store.AlertNew, store.AlertAcknowledged}}, store.Page{Limit: 1000})
	if err != nil {
		return fmt.Errorf("resolve geo alerts of %s: %w", dev.ID, err)
	}
	var errs []error
	for _, rule := range rules {
		for _, a := range open {
			if a.Key != geoAlertKey(dev.ID, rule) {
				continue
			}
			why := fmt.Sprintf("%s no longer holds (report %d)", rule, seq)
			if _, err := in.Store.SetAlertStatus(ctx, a.ID, store.AlertResolved, why, time.Time{},
				store.AuditEntry{At: in.Now(), Actor: "system", Action: "alert.resolve", Target: alertTarget(a.ID), Detail: why}); err != nil {
				errs = append(errs, err)
				continue
			}
			in.Metrics.Alerts.WithLabelValues("geo", detectors.Severity(a.Severity).String(), "resolved").Inc()
		}
	}
	return errors.Join(errs...)
}

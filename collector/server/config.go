package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/farmwatch/farmwatch/collector/correlate"
	"github.com/farmwatch/farmwatch/collector/sink"
	"github.com/farmwatch/farmwatch/detectors"
	_ "github.com/farmwatch/farmwatch/detectors/all" // policy sections are checked by their detectors
	"github.com/farmwatch/farmwatch/transport"
)

// Config is collector.yaml. Relative paths are relative to the file's
// directory. See docs/collector.md for every key.
type Config struct {
	// Name appears in alerts and certificates.
	Name string `yaml:"name"`
	// AgentListen is the agent port (mTLS; enrollment by token).
	AgentListen string `yaml:"agent_listen"`
	// APIListen is the console/API port (HTTPS).
	APIListen string `yaml:"api_listen"`
	// LinkURL is the base of links in alerts sent to sinks (an alert is
	// LinkURL + "/alerts/<id>"); default https://<api_listen>/api/v1.
	LinkURL string `yaml:"link_url"`
	// Database is a SQLite file path or a postgres:// URL.
	Database string    `yaml:"database"`
	TLS      TLSConfig `yaml:"tls"`
	// FleetKeyFile holds the fleet LAN key (base64), handed to agents.
	FleetKeyFile string `yaml:"fleet_key_file"`
	// DeviceCertValidity is the lifetime of device certificates.
	DeviceCertValidity Duration `yaml:"device_cert_validity"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed when
	// taking a device's public IP.
	TrustedProxies []string          `yaml:"trusted_proxies"`
	Ingest         IngestConfig      `yaml:"ingest"`
	Correlation    CorrelationConfig `yaml:"correlation"`
	Alerts         AlertsConfig      `yaml:"alerts"`
	// GeoIP is the geolocation judgement of devices (collector/geo).
	GeoIP GeoIPConfig   `yaml:"geoip"`
	Sinks []sink.Config `yaml:"sinks"`
	// Policy is the fleet policy served to agents (transport.FleetPolicy
	// in YAML: detectors, scan_interval, heartbeat_interval,
	// settings.<detector>; the ARP sweep is settings.colocation.arp_sweep).
	Policy yaml.Node `yaml:"policy"`
	Log    LogConfig `yaml:"log"`

	// dir is the directory of the configuration file.
	dir string
	// Path is the configuration file.
	Path string `yaml:"-"`
}

// TLSConfig names the PKI files.
type TLSConfig struct {
	CACert string `yaml:"ca_cert"`
	CAKey  string `yaml:"ca_key"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
}

// IngestConfig bounds what agents may send.
type IngestConfig struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// RatePerDevice is the sustained reports per second per device.
	RatePerDevice float64 `yaml:"rate_per_device"`
	Burst         int     `yaml:"burst"`
}

// CorrelationConfig tunes fleet correlation (collector/correlate).
type CorrelationConfig struct {
	Interval        Duration `yaml:"interval"`
	Window          Duration `yaml:"window"`
	MinDevices      int      `yaml:"min_devices"`
	MinOwners       int      `yaml:"min_owners"`
	CriticalDevices int      `yaml:"critical_devices"`
	SilentAfter     Duration `yaml:"silent_after"`
	MinKVMDevices   int      `yaml:"min_kvm_devices"`
	// IncludePrivateIPs lets private and loopback source addresses join
	// devices (labs and demos only).
	IncludePrivateIPs bool `yaml:"include_private_ips"`
	// OfficeCIDRs are public address ranges of registered offices.
	OfficeCIDRs []string `yaml:"office_cidrs"`
	// OfficeNetworks are gateway/BSSID hashes of registered offices.
	OfficeNetworks []string `yaml:"office_networks"`
}

// AlertsConfig says which device findings become alerts.
type AlertsConfig struct {
	// FindingMinSeverity: findings at or above it raise an alert.
	FindingMinSeverity string `yaml:"finding_min_severity"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Duration is a time.Duration written "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		Name:               "farmwatch",
		AgentListen:        "127.0.0.1:8443",
		APIListen:          "127.0.0.1:8444",
		Database:           "farmwatch.db",
		TLS:                TLSConfig{CACert: "ca.pem", CAKey: "ca.key", Cert: "server.pem", Key: "server.key"},
		FleetKeyFile:       "fleet.key",
		DeviceCertValidity: Duration(30 * 24 * time.Hour),
		Ingest:             IngestConfig{MaxBodyBytes: 4 << 20, RatePerDevice: 1, Burst: 120},
		Correlation:        CorrelationConfig{Interval: Duration(time.Minute)},
		Alerts:             AlertsConfig{FindingMinSeverity: "high"},
		GeoIP:              defaultGeoIP(),
		Log:                LogConfig{Level: "info", Format: "json"},
	}
}

// LoadConfig reads collector.yaml over the defaults.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w (create one with `farmwatch-collector init --dir DIR`)", err)
	}
	c := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.Path, c.dir = abs, filepath.Dir(abs)
	c.GeoIP.CityDB, c.GeoIP.ASNDB = c.Resolve(c.GeoIP.CityDB), c.Resolve(c.GeoIP.ASNDB)
	for i := range c.Sinks {
		s := &c.Sinks[i]
		s.SecretFile, s.CAFile, s.Path = c.Resolve(s.SecretFile), c.Resolve(s.CAFile), c.Resolve(s.Path)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// Resolve makes p absolute relative to the configuration directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.IsPostgres(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// IsPostgres reports whether a database setting is a PostgreSQL URL.
func (c *Config) IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// DatabaseDSN is the database setting with a relative SQLite path
// resolved.
func (c *Config) DatabaseDSN() string { return c.Resolve(c.Database) }

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.AgentListen == "" || c.APIListen == "" {
		errs = append(errs, errors.New("agent_listen and api_listen are required"))
	}
	if c.Database == "" {
		errs = append(errs, errors.New("database is required"))
	}
	if time.Duration(c.DeviceCertValidity) < time.Hour {
		errs = append(errs, errors.New("device_cert_validity: at least 1h"))
	}
	if _, err := c.trustedProxies(); err != nil {
		errs = append(errs, err)
	}
	if c.Ingest.MaxBodyBytes < 64<<10 {
		errs = append(errs, errors.New("ingest.max_body_bytes: at least 65536"))
	}
	if c.Ingest.RatePerDevice <= 0 || c.Ingest.Burst < 1 {
		errs = append(errs, errors.New("ingest.rate_per_device must be positive and ingest.burst at least 1"))
	}
	if _, err := detectors.ParseSeverity(c.Alerts.FindingMinSeverity); err != nil {
		errs = append(errs, fmt.Errorf("alerts.finding_min_severity: %w", err))
	}
	if _, err := c.CorrelateOptions(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.GeoOptions(); err != nil {
		errs = append(errs, err)
	}
	if err := sink.ValidateAll(c.Sinks); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.FleetPolicy(); err != nil {
		errs = append(errs, err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: json or console", c.Log.Format))
	}
	return errors.Join(errs...)
}

func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// CorrelateOptions converts the correlation section.
func (c *Config) CorrelateOptions() (correlate.Options, error) {
	cc := c.Correlation
	o := correlate.Options{
		Window:            time.Duration(cc.Window),
		MinDevices:        cc.MinDevices,
		MinOwners:         cc.MinOwners,
		CriticalDevices:   cc.CriticalDevices,
		SilentAfter:       time.Duration(cc.SilentAfter),
		MinKVMDevices:     cc.MinKVMDevices,
		IncludePrivateIPs: cc.IncludePrivateIPs,
		OfficeNetworks:    cc.OfficeNetworks,
	}
	for _, s := range cc.OfficeCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return o, fmt.Errorf("correlation.office_cidrs: %w", err)
		}
		o.OfficeCIDRs = append(o.OfficeCIDRs, p)
	}
	o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("correlation: %w", err)
	}
	return o, nil
}

// FleetPolicy converts the policy section to the wire form, with its
// version.
func (c *Config) FleetPolicy() (*transport.PolicyDoc, error) {
	var p transport.FleetPolicy
	if !c.Policy.IsZero() {
		var v any
		if err := c.Policy.Decode(&v); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for _, n := range p.Detectors {
		if _, ok := detectors.Lookup(n); !ok {
			return nil, fmt.Errorf("policy.detectors: unknown detector %q", n)
		}
	}
	for n, raw := range p.Settings {
		info, ok := detectors.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("policy.settings: unknown detector %q", n)
		}
		if _, err := info.New().DecodePolicy(raw); err != nil {
			return nil, fmt.Errorf("policy.settings.%s: %w", n, err)
		}
	}
	v, err := transport.PolicyVersion(p)
	if err != nil {
		return nil, err
	}
	return &transport.PolicyDoc{Version: v, Policy: p}, nil
}

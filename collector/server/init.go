package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/transport"
)

// serverCertValidity is the lifetime of the listeners' certificate.
// Agents pin the CA, not this certificate.
const serverCertValidity = 5 * 365 * 24 * time.Hour

var configTemplate = template.Must(template.New("collector.yaml").Parse(`# farmwatch collector configuration (written by farmwatch-collector init).
# Every key is described in docs/collector.md. Relative paths are relative
# to this file's directory.
name: {{.Name}}

# Agents connect here: TLS 1.3, client certificate required except for
# enrollment. Bind a public address to serve laptops outside this host.
agent_listen: {{.AgentListen}}
# Console and REST API (HTTPS), and /metrics for Prometheus.
api_listen: {{.APIListen}}

# A SQLite file (one node) or postgres://user@host/db (several nodes).
database: farmwatch.db

tls:
  ca_cert: ca.pem
  ca_key: ca.key        # keep secret: it signs device certificates
  cert: server.pem
  key: server.key
fleet_key_file: fleet.key   # keep secret: authenticates LAN beacons
device_cert_validity: 720h  # 30 days; agents renew at two thirds

# Proxies whose X-Forwarded-For is believed for a device's public IP.
trusted_proxies: []

ingest:
  max_body_bytes: 4194304
  rate_per_device: 1    # reports per second, sustained
  burst: 120

correlation:
  interval: 1m
  window: 24h           # identifiers and beacons older than this are ignored
  min_devices: 3        # a farm: this many devices on one network …
  min_owners: 2         # … belonging to at least this many owners
  critical_devices: 6
  silent_after: 72h     # a device silent this long raises an alert
  min_kvm_devices: 2
  include_private_ips: false  # true only for labs/demos reached over loopback or a private network
  office_cidrs: []      # public address ranges of your offices
  office_networks: []   # gateway/BSSID hashes of your offices

alerts:
  finding_min_severity: high

# Geolocation judgement of every report (docs/geoip.md). Without city_db the
# location rules are off; without asn_db the hosting/VPN rule is off.
geoip:
  city_db: ""                 # e.g. GeoLite2-City.mmdb (MaxMind, updated weekly by geoipupdate)
  asn_db: ""                  # e.g. GeoLite2-ASN.mmdb
  reload_interval: 1m         # files are re-read when their modification time or size changes
  alert_min_severity: medium  # geo findings at or above it raise an alert
  far_km: 500                 # geo.far_from_home: farther than this from the registered home
  default_hosting_asns: true  # the built-in hosting/VPN ASN list (docs/geoip.md)
  hosting_asns: []            # more, e.g. [AS9009, 14061]
  allowed_asns: []            # your SASE / cloud VPN egress: never "hosting"
  exempt_cidrs: []            # your VPN concentrators and offices: not located by IP
  landmark_error_km: 25       # how far a landmark may be from its published coordinates
  home_error_km: 25           # how far a registered home may be from its roster coordinates
  home_min_landmarks: 2       # landmarks that must exclude the home to say "not at home"
  learning_period: 168h       # no new-country / new-network alerts in a device's first week
  severities: {}              # per rule: info, low, medium, high, critical or off

# Where alerts go (webhook, syslog, ocsf); see docs/collector.md.
sinks: []

# The fleet policy agents fetch (detectors, schedule, per-detector settings).
policy:
  scan_interval: 1h
  heartbeat_interval: 15m
  settings: {}          # e.g. colocation: {arp_sweep: true}; see docs/colocation.md

log:
  level: info
  format: json
`))

// InitOptions are the inputs of Initialize.
type InitOptions struct {
	Dir string
	// Names are the DNS names and IP addresses in the server certificate.
	Names         []string
	CollectorName string
	AgentListen   string
	APIListen     string
	// Database overrides the default SQLite file (e.g. a postgres:// URL).
	Database string
}

// InitResult says what Initialize created.
type InitResult struct {
	ConfigPath string
	CAPath     string
	// AdminPassword is the first admin's one-time password.
	AdminPassword string
}

// ErrInitialised is returned when the directory already has a collector.
var ErrInitialised = errors.New("already initialised")

// Initialize creates a collector in o.Dir: CA, server certificate, fleet
// key, collector.yaml, the database and an admin user with a one-time
// password. Secrets are written 0600; collector.yaml last, so its
// presence marks a complete initialisation.
func Initialize(ctx context.Context, o InitOptions) (*InitResult, error) {
	if o.CollectorName == "" {
		o.CollectorName = "farmwatch"
	}
	if len(o.Names) == 0 {
		o.Names = []string{"localhost", "127.0.0.1"}
	}
	d := Defaults()
	if o.AgentListen == "" {
		o.AgentListen = d.AgentListen
	}
	if o.APIListen == "" {
		o.APIListen = d.APIListen
	}
	cfgPath := filepath.Join(o.Dir, "collector.yaml")
	if _, err := os.Stat(cfgPath); err == nil {
		return nil, fmt.Errorf("%s exists: %w (nothing changed)", cfgPath, ErrInitialised)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	ca, caKey, err := pki.NewCA(o.CollectorName, now)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueServer(o.Names, now, serverCertValidity)
	if err != nil {
		return nil, err
	}
	fleet := make([]byte, 32)
	if _, err := rand.Read(fleet); err != nil {
		return nil, err
	}
	var text strings.Builder
	if err := configTemplate.Execute(&text, map[string]string{"Name": o.CollectorName, "AgentListen": o.AgentListen, "APIListen": o.APIListen}); err != nil {
		return nil, err
	}
	cfgText := text.String()
	if o.Database != "" {
		cfgText = strings.Replace(cfgText, "database: farmwatch.db", "database: "+o.Database, 1)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{"ca.pem", ca.PEM, 0o644}, {"ca.key", caKey, 0o600},
		{"server.pem", certPEM, 0o644}, {"server.key", keyPEM, 0o600},
		{"fleet.key", []byte(base64.StdEncoding.EncodeToString(fleet)), 0o600},
		{"collector.yaml", []byte(cfgText), 0o600},
	} {
		if err := transport.WriteFileAtomic(filepath.Join(o.Dir, f.name), f.data, f.perm); err != nil {
			return nil, err
		}
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), zap.NewNop())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	pw, err := auth.NewPassword()
	if err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return nil, err
	}
	if err := st.CreateUser(ctx, store.User{Name: "admin", Role: store.RoleAdmin, PasswordHash: hash, CreatedAt: now, MustChangePassword: true}); err != nil {
		return nil, fmt.Errorf("create the admin user: %w", err)
	}
	if err := st.AddAudit(ctx, store.AuditEntry{At: now, Actor: "cli", Action: "collector.init", Target: "user:admin"}); err != nil {
		return nil, err
	}
	return &InitResult{ConfigPath: cfg.Path, CAPath: filepath.Join(cfg.dir, "ca.pem"), AdminPassword: pw}, nil
}

package sink

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/detectors"
)

// Sink types.
const (
	TypeWebhook = "webhook"
	TypeSyslog  = "syslog"
	TypeOCSF    = "ocsf"
)

// Config is one entry of the collector's `sinks:` list. Fields apply to
// the types named in their comments; setting a field another type does
// not read is an error, so a typo cannot silently change where alerts go.
type Config struct {
	// Name is unique among sinks, [a-z0-9-], at most 64 characters. It
	// keys the sink's durable deliveries: renaming a sink abandons the
	// deliveries still queued under the old name.
	Name string `yaml:"name"`
	// Type is webhook, syslog or ocsf.
	Type string `yaml:"type"`
	// MinSeverity is the lowest alert severity sent (info, low, medium,
	// high, critical); default medium.
	MinSeverity string `yaml:"min_severity"`

	// URL is the webhook endpoint (webhook), or where OCSF findings are
	// POSTed (ocsf, instead of Path). http or https.
	URL string `yaml:"url"`
	// Secret is the HMAC-SHA256 key signing webhook requests (webhook;
	// ocsf with url, optional). Prefer SecretFile.
	Secret string `yaml:"secret"`
	// SecretFile holds the key; surrounding whitespace is trimmed.
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one delivery: the HTTP request, or the syslog
	// dial and write. Default 10s.
	Timeout time.Duration `yaml:"timeout"`

	// Address is the syslog receiver, host:port (syslog).
	Address string `yaml:"address"`
	// Transport is tcp (RFC 6587 octet counting) or tls (RFC 5425,
	// TLS 1.2 or later); default tls (syslog).
	Transport string `yaml:"transport"`
	// CAFile pins the receiver's CA, PEM; empty means the system roots
	// (syslog with tls).
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in the receiver's
	// certificate; default the host of Address (syslog with tls).
	ServerName string `yaml:"server_name"`
	// Format is cef or json; default cef (syslog).
	Format string `yaml:"format"`
	// AppName is the RFC 5424 APP-NAME; default farmwatch (syslog).
	AppName string `yaml:"app_name"`
	// Facility is the syslog facility name; default local4 (syslog).
	Facility string `yaml:"facility"`
	// Hostname is the RFC 5424 HOSTNAME; default this host's name
	// (syslog).
	Hostname string `yaml:"hostname"`

	// Path is the OCSF JSON Lines file, appended to (ocsf, instead of
	// URL).
	Path string `yaml:"path"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Default values.
const (
	DefaultMinSeverity = "medium"
	DefaultTimeout     = 10 * time.Second
	defaultAppName     = "farmwatch"
	defaultFacility    = "local4"
)

// facilities are the RFC 5424 facility codes by name.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"solaris-cron": 15, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
	"local5": 21, "local6": 22, "local7": 23,
}

// Validate checks the configuration without touching the network or the
// files it names (New reads them). Each error names the sink and the
// field. Uniqueness of names across the list is the caller's check (see
// ValidateAll).
func (c Config) Validate() error {
	label := c.Name
	if label == "" {
		label = "(unnamed)"
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sink %s: %s: %s", label, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Name == "":
		bad("name", "required")
	case !nameRE.MatchString(c.Name):
		bad("name", "%q: use 1 to 64 of a-z, 0-9 and -, starting with a letter or digit", c.Name)
	}
	if c.MinSeverity != "" {
		if _, err := detectors.ParseSeverity(c.MinSeverity); err != nil {
			bad("min_severity", "%v", err)
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "must not be negative")
	}
	// notFor lists fields set but not read by this type.
	notFor := func(fields map[string]bool) {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"url", c.URL != ""}, {"secret", c.Secret != ""}, {"secret_file", c.SecretFile != ""},
			{"address", c.Address != ""}, {"transport", c.Transport != ""}, {"ca_file", c.CAFile != ""},
			{"server_name", c.ServerName != ""}, {"format", c.Format != ""}, {"app_name", c.AppName != ""},
			{"facility", c.Facility != ""}, {"hostname", c.Hostname != ""}, {"path", c.Path != ""},
		} {
			if f.set && !fields[f.name] {
				bad(f.name, "not used by type %s", c.Type)
			}
		}
	}
	secret := func(required bool) {
		switch {
		case c.Secret != "" && c.SecretFile != "":
			bad("secret", "set secret or secret_file, not both")
		case required && c.Secret == "" && c.SecretFile == "":
			bad("secret_file", "required (or secret): the HMAC key that signs every request")
		}
	}
	switch c.Type {
	case TypeWebhook:
		notFor(map[string]bool{"url": true, "secret": true, "secret_file": true})
		if err := checkHTTPURL(c.URL); err != nil {
			bad("url", "%v", err)
		}
		secret(true)
	case TypeSyslog:
		notFor(map[string]bool{"address": true, "transport": true, "ca_file": true, "server_name": true,
			"format": true, "app_name": true, "facility": true, "hostname": true})
		if c.Address == "" {
			bad("address", "required (host:port)")
		} else if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			bad("address", "%q: want host:port", c.Address)
		}
		switch c.Transport {
		case "", "tls":
		case "tcp":
			if c.CAFile != "" {
				bad("ca_file", "only with transport tls")
			}
			if c.ServerName != "" {
				bad("server_name", "only with transport tls")
			}
		default:
			bad("transport", "%q: want tcp or tls", c.Transport)
		}
		switch c.Format {
		case "", "cef", "json":
		default:
			bad("format", "%q: want cef or json", c.Format)
		}
		if c.AppName != "" && !printASCII(c.AppName, 48) {
			bad("app_name", "%q: 1 to 48 printable ASCII characters without spaces (RFC 5424)", c.AppName)
		}
		if c.Hostname != "" && !printASCII(c.Hostname, 255) {
			bad("hostname", "%q: 1 to 255 printable ASCII characters without spaces (RFC 5424)", c.Hostname)
		}
		if _, ok := facilities[c.Facility]; c.Facility != "" && !ok {
			bad("facility", "%q: want a syslog facility name such as local4", c.Facility)
		}
	case TypeOCSF:
		notFor(map[string]bool{"path": true, "url": true, "secret": true, "secret_file": true})
		switch {
		case c.Path == "" && c.URL == "":
			bad("path", "required (or url)")
		case c.Path != "" && c.URL != "":
			bad("path", "set path or url, not both")
		case c.URL != "":
			if err := checkHTTPURL(c.URL); err != nil {
				bad("url", "%v", err)
			}
			secret(false)
		default:
			if c.Secret != "" || c.SecretFile != "" {
				bad("secret", "only with url")
			}
		}
	case "":
		bad("type", "required (webhook, syslog or ocsf)")
	default:
		bad("type", "%q: want webhook, syslog or ocsf", c.Type)
	}
	return errors.Join(errs...)
}

// ValidateAll validates every sink and checks names are unique.
func ValidateAll(cs []Config) error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range cs {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
		if c.Name != "" && seen[c.Name] {
			errs = append(errs, fmt.Errorf("sink %s: name: used twice", c.Name))
		}
		seen[c.Name] = true
	}
	return errors.Join(errs...)
}

func checkHTTPURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: credentials in the URL would be logged; use the signature", u.Redacted())
	}
	return nil
}

// printASCII reports whether s is 1..max characters of %d33-126.
func printASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// minSeverity is the configured threshold, medium when unset or invalid.
func (c Config) minSeverity() int {
	if c.MinSeverity == "" {
		return int(detectors.SeverityMedium)
	}
	s, err := detectors.ParseSeverity(c.MinSeverity)
	if err != nil {
		return int(detectors.SeverityMedium)
	}
	return int(s)
}

// Wants reports whether the sink takes alerts of the given severity
// (0 info … 4 critical): at or above min_severity, medium by default.
// The collector asks it when choosing the sinks of UpsertAlert.
func Wants(c Config, severity int) bool {
	return severity >= c.minSeverity()
}

// New validates c and builds its sink. It reads the secret and CA files
// and opens the OCSF file, but does not connect: syslog dials on the
// first delivery, so a SIEM that is down does not stop the collector.
func New(c Config, log *zap.Logger) (Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("sink", c.Name), zap.String("type", c.Type))
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	secret, err := c.secret(log)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(c.URL, "http://") {
		log.Warn("alerts (with owners and hostnames) will be sent over plain HTTP; use https", zap.String("url", redactURL(c.URL)))
	}
	switch c.Type {
	case TypeWebhook:
		return newWebhook(c.Name, c.URL, secret, timeout, log), nil
	case TypeSyslog:
		return newSyslog(c, timeout, log)
	case TypeOCSF:
		if c.URL != "" {
			return newOCSFHTTP(c.Name, c.URL, secret, timeout, log), nil
		}
		return newOCSFFile(c.Name, c.Path, log)
	}
	return nil, fmt.Errorf("sink %s: type: %q unknown", c.Name, c.Type)
}

// MinSecretLen is the shortest HMAC key accepted, in bytes.
const MinSecretLen = 16

// secret returns the HMAC key, from secret or secret_file.
func (c Config) secret(log *zap.Logger) ([]byte, error) {
	s, field := c.Secret, "secret"
	if c.SecretFile != "" {
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("sink %s: secret_file: %w", c.Name, err)
		}
		if fi, err := os.Stat(c.SecretFile); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o007 != 0 {
			log.Warn("secret_file is readable by every user; chmod o-rwx it", zap.String("path", c.SecretFile))
		}
		s, field = strings.TrimSpace(string(b)), "secret_file "+c.SecretFile
	} else if s == "" {
		return nil, nil
	}
	if len(s) < MinSecretLen {
		return nil, fmt.Errorf("sink %s: %s: the key must be at least %d bytes (e.g. openssl rand -hex 32)", c.Name, field, MinSecretLen)
	}
	return []byte(s), nil
}

package sink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"gopkg.in/yaml.v3"
)

func TestConfigYAML(t *testing.T) {
	t.Parallel()
	const doc = `
sinks:
  - name: soc-webhook
    type: webhook
    min_severity: medium
    url: https://hooks.example/farmwatch
    secret_file: /etc/farmwatch/webhook.secret
    timeout: 10s
  - name: siem
    type: syslog
    address: siem.example:6514
    transport: tls
    ca_file: /etc/farmwatch/siem-ca.pem
    format: cef
    app_name: farmwatch
  - name: ocsf-file
    type: ocsf
    path: /var/log/farmwatch/ocsf.jsonl
`
	var c struct {
		Sinks []Config `yaml:"sinks"`
	}
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if len(c.Sinks) != 3 {
		t.Fatalf("got %d sinks", len(c.Sinks))
	}
	if got := c.Sinks[0]; got.Timeout != 10*time.Second || got.SecretFile != "/etc/farmwatch/webhook.secret" || got.MinSeverity != "medium" {
		t.Errorf("webhook decoded as %+v", got)
	}
	if got := c.Sinks[1]; got.Address != "siem.example:6514" || got.Transport != "tls" || got.CAFile == "" || got.Format != "cef" {
		t.Errorf("syslog decoded as %+v", got)
	}
	if err := ValidateAll(c.Sinks); err != nil {
		t.Errorf("ValidateAll: %v", err)
	}
	if err := ValidateAll(append(c.Sinks, c.Sinks[2])); err == nil || !strings.Contains(err.Error(), "sink ocsf-file: name: used twice") {
		t.Errorf("duplicate name: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	webhook := Config{Name: "soc", Type: TypeWebhook, URL: "https://hooks.example/x", Secret: "0123456789abcdef"}
	syslog := Config{Name: "siem", Type: TypeSyslog, Address: "siem.example:6514"}
	ocsf := Config{Name: "lake", Type: TypeOCSF, Path: "/var/log/farmwatch/ocsf.jsonl"}
	with := func(c Config, f func(*Config)) Config { f(&c); return c }
	for _, tc := range []struct {
		name string
		c    Config
		want string // "" = valid; else a substring of the error
	}{
		{"webhook", webhook, ""},
		{"syslog", syslog, ""},
		{"syslog tcp json", with(syslog, func(c *Config) { c.Transport, c.Format, c.Facility = "tcp", "json", "local7" }), ""},
		{"ocsf", ocsf, ""},
		{"ocsf url", with(ocsf, func(c *Config) { c.Path, c.URL = "", "https://lake.example/in" }), ""},
		{"no name", with(webhook, func(c *Config) { c.Name = "" }), "sink (unnamed): name: required"},
		{"bad name", with(webhook, func(c *Config) { c.Name = "SOC_1" }), `sink SOC_1: name: "SOC_1"`},
		{"no type", with(webhook, func(c *Config) { c.Type = "" }), "sink soc: type: required"},
		{"bad type", with(webhook, func(c *Config) { c.Type = "email" }), `sink soc: type: "email"`},
		{"bad severity", with(webhook, func(c *Config) { c.MinSeverity = "urgent" }), "sink soc: min_severity: unknown severity"},
		{"negative timeout", with(webhook, func(c *Config) { c.Timeout = -time.Second }), "sink soc: timeout"},
		{"webhook no url", with(webhook, func(c *Config) { c.URL = "" }), "sink soc: url: required"},
		{"webhook ftp", with(webhook, func(c *Config) { c.URL = "ftp://x/y" }), "sink soc: url:"},
		{"webhook userinfo", with(webhook, func(c *Config) { c.URL = "https://u:p@x/y" }), "credentials in the URL"},
		{"webhook no secret", with(webhook, func(c *Config) { c.Secret = "" }), "sink soc: secret_file: required"},
		{"webhook two secrets", with(webhook, func(c *Config) { c.SecretFile = "/x" }), "not both"},
		{"webhook with address", with(webhook, func(c *Config) { c.Address = "x:1" }), "sink soc: address: not used by type webhook"},
		{"syslog no address", with(syslog, func(c *Config) { c.Address = "" }), "sink siem: address: required"},
		{"syslog no port", with(syslog, func(c *Config) { c.Address = "siem.example" }), "sink siem: address:"},
		{"syslog bad transport", with(syslog, func(c *Config) { c.Transport = "udp" }), "sink siem: transport:"},
		{"syslog ca with tcp", with(syslog, func(c *Config) { c.Transport, c.CAFile = "tcp", "/ca.pem" }), "sink siem: ca_file: only with transport tls"},
		{"syslog bad format", with(syslog, func(c *Config) { c.Format = "leef" }), "sink siem: format:"},
		{"syslog app name space", with(syslog, func(c *Config) { c.AppName = "farm watch" }), "sink siem: app_name:"},
		{"syslog bad facility", with(syslog, func(c *Config) { c.Facility = "local9" }), "sink siem: facility:"},
		{"syslog with url", with(syslog, func(c *Config) { c.URL = "https://x" }), "sink siem: url: not used by type syslog"},
		{"ocsf neither", with(ocsf, func(c *Config) { c.Path = "" }), "sink lake: path: required"},
		{"ocsf both", with(ocsf, func(c *Config) { c.URL = "https://x/y" }), "sink lake: path: set path or url, not both"},
		{"ocsf file secret", with(ocsf, func(c *Config) { c.Secret = "0123456789abcdef" }), "sink lake: secret: only with url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("no error, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestWants(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		min  string
		sev  int
		want bool
	}{
		{"", 1, false}, {"", 2, true}, {"", 4, true},
		{"info", 0, true}, {"high", 2, false}, {"high", 3, true}, {"critical", 3, false}, {"CRITICAL", 4, true},
	} {
		if got := Wants(Config{MinSeverity: tc.min}, tc.sev); got != tc.want {
			t.Errorf("Wants(min %q, severity %d) = %v, want %v", tc.min, tc.sev, got, tc.want)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := zaptest.NewLogger(t)
	secretFile := filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(secretFile, []byte("  0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Name: "soc", Type: TypeWebhook, URL: "https://hooks.example/x", SecretFile: secretFile}, log)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "soc" || string(s.(*webhook).p.secret) != "0123456789abcdef0123" {
		t.Errorf("webhook %q has secret %q", s.Name(), s.(*webhook).p.secret)
	}
	_ = s.Close()

	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"missing secret file", Config{Name: "soc", Type: TypeWebhook, URL: "https://x/y", SecretFile: filepath.Join(dir, "nope")}, "sink soc: secret_file:"},
		{"short secret", Config{Name: "soc", Type: TypeWebhook, URL: "https://x/y", Secret: "short"}, "at least 16 bytes"},
		{"missing ca", Config{Name: "siem", Type: TypeSyslog, Address: "x:6514", CAFile: filepath.Join(dir, "nope.pem")}, "sink siem: ca_file:"},
		{"ca not pem", Config{Name: "siem", Type: TypeSyslog, Address: "x:6514", CAFile: secretFile}, "no PEM certificate"},
		{"ocsf dir missing", Config{Name: "lake", Type: TypeOCSF, Path: filepath.Join(dir, "no", "such", "x.jsonl")}, "sink lake: open"},
		{"invalid", Config{Name: "x"}, "type: required"},
	} {
		if _, err := New(tc.c, log); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}

	// A syslog sink does not connect in New: the receiver may be down.
	s, err = New(Config{Name: "siem", Type: TypeSyslog, Address: "127.0.0.1:1", Transport: "tcp"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if ss := s.(*syslogSink); ss.facility != 20 || ss.appName != "farmwatch" || ss.json || ss.tlsConfig != nil {
		t.Errorf("syslog defaults: facility %d app %q json %v tls %v", ss.facility, ss.appName, ss.json, ss.tlsConfig != nil)
	}
	_ = s.Close()
}

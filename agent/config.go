package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/farmwatch/farmwatch/agent/localapi"
	"github.com/farmwatch/farmwatch/detectors"
)

// Config is the agent configuration. Sources, lowest precedence first:
// built-in defaults, the YAML file, FARMWATCH_* environment variables,
// command-line flags. See docs/configuration.md.
type Config struct {
	// StateDir holds keys, the queue and the last scan.
	StateDir  string          `yaml:"state_dir"`
	Log       LogConfig       `yaml:"log"`
	Detectors DetectorsConfig `yaml:"detectors"`
	// Policy holds one section per detector (see each detector's docs).
	// Once enrolled, the fleet policy's sections replace these.
	Policy map[string]yaml.Node `yaml:"policy"`
	// Enrollment lets managed configuration enroll the service on start.
	Enrollment EnrollmentConfig `yaml:"enrollment"`
	Queue      QueueConfig      `yaml:"queue"`
	Schedule   ScheduleConfig   `yaml:"schedule"`
	Watchdog   WatchdogConfig   `yaml:"watchdog"`
	// LocalAPI is the local status API (see serve.go, docs/agent.md).
	LocalAPI LocalAPIConfig `yaml:"local_api"`

	// Source is the file the configuration was read from, "" if none.
	Source string `yaml:"-"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is console or json; empty means console for commands run by
	// a person and json for the service.
	Format string `yaml:"format"`
}

// DetectorsConfig selects and bounds the detectors.
type DetectorsConfig struct {
	// Enabled lists the detectors to run; empty means all registered.
	Enabled []string `yaml:"enabled"`
	// Timeout is the deadline of one detector's observation.
	Timeout Duration `yaml:"timeout"`
	// Concurrency bounds how many detectors observe at once.
	Concurrency int `yaml:"concurrency"`
}

// EnrollmentConfig is what `farmwatch run` needs to enroll by itself
// when the device is not enrolled yet (MDM-managed configuration).
type EnrollmentConfig struct {
	// Server is the collector's agent URL (https://host:8443).
	Server string `yaml:"server"`
	// Token is an enrollment token; TokenFile a file holding one
	// (preferred: keeps the secret out of the configuration).
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// CAFile is the collector CA to pin for enrollment (PEM); empty means
	// the system roots.
	CAFile string `yaml:"ca_file"`
}

// QueueConfig bounds the durable outbound queue.
type QueueConfig struct {
	// MaxBytes is the queue's size limit (default 256 MiB). When full,
	// the lowest-severity reports are dropped first and counted; high and
	// critical ones never.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// ScheduleConfig sets when the run loop checks (see schedule.go).
type ScheduleConfig struct {
	// Intervals sets the time between two checks of a detector, by name;
	// a detector not listed uses the fleet policy's scan_interval when the
	// policy sets one, else its built-in interval (DefaultIntervals).
	Intervals map[string]Duration `yaml:"intervals"`
	// Jitter is the largest random delay added to each interval, as a
	// fraction of it (0 to 0.5; default 0.1).
	Jitter float64 `yaml:"jitter"`
	// CycleTimeout bounds one whole check cycle (default 5m).
	CycleTimeout Duration `yaml:"cycle_timeout"`
	// Triggers turns on the re-checks after wake from sleep, a network
	// change and a USB/display change (default true).
	Triggers bool `yaml:"triggers"`
	// PollInterval is how often the trigger sources are polled (default 30s).
	PollInterval Duration `yaml:"poll_interval"`
	// Debounce merges triggers that follow each other within this time
	// into one check (default 30s).
	Debounce Duration `yaml:"debounce"`
	// MinTriggerGap is the shortest time between two trigger-driven
	// checks (default 2m).
	MinTriggerGap Duration `yaml:"min_trigger_gap"`
}

// WatchdogConfig bounds the agent's own resource use (see watchdog.go).
type WatchdogConfig struct {
	// MaxMemory is the resident memory limit (default 96MiB; 0 turns the
	// memory check off).
	MaxMemory ByteSize `yaml:"max_memory"`
	// MaxCPUPercent is the limit of CPU time over Window, in percent of
	// one core (default 10; 0 turns the CPU check off).
	MaxCPUPercent float64 `yaml:"max_cpu_percent"`
	// Window is the span the CPU use is averaged over (default 5m).
	Window Duration `yaml:"window"`
	// SampleInterval is the time between two samples (default 15s).
	SampleInterval Duration `yaml:"sample_interval"`
}

// ByteSize is a size written "256MiB", "64MB" or a plain number of bytes.
type ByteSize int64

// UnmarshalYAML parses a size with an optional unit (KB, MB, GB, KiB,
// MiB, GiB).
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses "256MiB", "64MB", "1GB" or "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB, KB, MB, GB)", s)
	}
	return ByteSize(v * mult), nil
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
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

// DefaultConfig returns the built-in defaults for goos.
func DefaultConfig(goos string, getenv func(string) string) Config {
	return Config{
		StateDir:  DefaultPaths(goos, getenv).State,
		Log:       LogConfig{Level: "info"},
		Detectors: DetectorsConfig{Timeout: Duration(60 * time.Second), Concurrency: 2},
		Queue:     QueueConfig{MaxBytes: 256 << 20},
		Schedule: ScheduleConfig{
			Jitter: 0.1, CycleTimeout: Duration(5 * time.Minute), Triggers: true,
			PollInterval: Duration(30 * time.Second), Debounce: Duration(30 * time.Second), MinTriggerGap: Duration(2 * time.Minute),
		},
		Watchdog: WatchdogConfig{MaxMemory: 96 << 20, MaxCPUPercent: 10, Window: Duration(5 * time.Minute), SampleInterval: Duration(15 * time.Second)},
		LocalAPI: LocalAPIConfig{Endpoint: localapi.DefaultEndpoint(goos), AdminGroups: localapi.DefaultAdminGroups(goos)},
	}
}

// LoadOptions say where configuration comes from.
type LoadOptions struct {
	GOOS   string
	Getenv func(string) string
	// ConfigPath is the --config flag; "" means FARMWATCH_CONFIG or the
	// per-OS default. An explicitly named file must exist; the default
	// file may be absent.
	ConfigPath string
}

// Environment variables read by LoadConfig.
const (
	EnvConfig      = "FARMWATCH_CONFIG"
	EnvStateDir    = "FARMWATCH_STATE_DIR"
	EnvLogLevel    = "FARMWATCH_LOG_LEVEL"
	EnvLogFormat   = "FARMWATCH_LOG_FORMAT"
	EnvDetectors   = "FARMWATCH_DETECTORS"
	EnvTimeout     = "FARMWATCH_DETECTOR_TIMEOUT"
	EnvConcurrency = "FARMWATCH_DETECTOR_CONCURRENCY"
)

// LoadConfig builds the configuration from defaults, file and environment.
// Flags are applied by the caller afterwards (they win over everything).
func LoadConfig(opts LoadOptions) (Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := DefaultConfig(opts.GOOS, getenv)
	path, explicit := opts.ConfigPath, opts.ConfigPath != ""
	if !explicit {
		if v := getenv(EnvConfig); v != "" {
			path, explicit = v, true
		} else {
			path = DefaultPaths(opts.GOOS, getenv).Config
		}
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := decodeConfig(data, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		cfg.Source = path
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		// No file at the default location: defaults and environment only.
	default:
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func decodeConfig(data []byte, cfg *Config) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return err
	}
	return nil
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	if v := getenv(EnvStateDir); v != "" {
		cfg.StateDir = v
	}
	if v := getenv(EnvLogLevel); v != "" {
		cfg.Log.Level = v
	}
	if v := getenv(EnvLogFormat); v != "" {
		cfg.Log.Format = v
	}
	if v := getenv(EnvDetectors); v != "" {
		cfg.Detectors.Enabled = SplitList(v)
	}
	if v := getenv(EnvTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvTimeout, err)
		}
		cfg.Detectors.Timeout = Duration(d)
	}
	if v := getenv(EnvConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvConcurrency, err)
		}
		cfg.Detectors.Concurrency = n
	}
	return nil
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Validate checks values that cannot be checked by type.
func (c *Config) Validate() error {
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "console", "json":
	default:
		return fmt.Errorf("config: log.format %q: want console or json", c.Log.Format)
	}
	if c.Detectors.Timeout <= 0 {
		return fmt.Errorf("config: detectors.timeout must be positive")
	}
	if c.Detectors.Concurrency < 1 {
		return fmt.Errorf("config: detectors.concurrency must be at least 1")
	}
	if c.StateDir == "" {
		return fmt.Errorf("config: state_dir is empty")
	}
	if c.Queue.MaxBytes < 1<<20 {
		return fmt.Errorf("config: queue.max_bytes must be at least 1MiB")
	}
	if c.Enrollment.Token != "" && c.Enrollment.TokenFile != "" {
		return fmt.Errorf("config: enrollment: set token or token_file, not both")
	}
	if err := c.Schedule.validate(); err != nil {
		return err
	}
	if err := c.Watchdog.validate(); err != nil {
		return err
	}
	if err := c.LocalAPI.validate(); err != nil {
		return err
	}
	for _, n := range c.Detectors.Enabled {
		if _, ok := detectors.Lookup(n); !ok {
			return fmt.Errorf("config: detectors.enabled: unknown detector %q (known: %s)", n, strings.Join(DetectorNames(), ", "))
		}
	}
	for n := range c.Policy {
		if _, ok := detectors.Lookup(n); !ok {
			return fmt.Errorf("config: policy: unknown detector %q (known: %s)", n, strings.Join(DetectorNames(), ", "))
		}
	}
	return nil
}

// DetectorNames lists the registered detectors.
func DetectorNames() []string {
	var names []string
	for _, i := range detectors.Registered() {
		names = append(names, i.Name)
	}
	return names
}

// PolicyJSON returns the policy section of detector name as JSON, nil
// when there is none.
func (c *Config) PolicyJSON(name string) (json.RawMessage, error) {
	n, ok := c.Policy[name]
	if !ok {
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("policy.%s: %w", name, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("policy.%s: %w", name, err)
	}
	return b, nil
}

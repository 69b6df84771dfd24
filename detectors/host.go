package detectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Host is everything a detector may use to look at the machine. Detectors
// never reach the host through globals (os.Open, exec.Command …) outside
// the GOOS-suffixed files that call OS-only APIs, so tests give each case
// its own Host and run in parallel.
type Host struct {
	// GOOS and GOARCH name the platform whose data FS and Exec return; a
	// test may set "windows" while running on Linux.
	GOOS, GOARCH string
	// FS is the filesystem rooted at "/" (the system drive on Windows).
	// Paths are slash-separated and unrooted: "sys/bus/usb/devices".
	FS fs.FS
	// Exec runs allow-listed commands.
	Exec Runner
	// Proc lists processes and sockets.
	Proc ProcessTable
	// Now is the clock.
	Now func() time.Time
	// Log is the detector's logger (already tagged with its name).
	Log *zap.Logger
	// Services holds the running detector services by detector name
	// (see Info.Service); nil when none run (command-line scans, tests).
	Services map[string]Service
}

// Runner runs a command and returns its standard output. Implementations
// refuse commands that are not allow-listed and enforce a timeout.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ErrNotAllowed is returned by a Runner for a command outside its allow-list.
var ErrNotAllowed = errors.New("command not allow-listed")

// ErrUnsupported is returned by Observe on a platform the detector does not
// support. It is not a failure: the engine records status "unsupported".
var ErrUnsupported = errors.ErrUnsupported

// ExecRunner runs allow-listed programs by absolute path, with no shell, a
// timeout and a cap on captured output.
type ExecRunner struct {
	// Allowed maps a command name to the absolute paths tried in order.
	Allowed map[string][]string
	// Timeout bounds one run; zero means 15 s.
	Timeout time.Duration
	// MaxOutput caps captured stdout; zero means 16 MiB.
	MaxOutput int
}

// Run implements Runner.
func (r *ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	paths, ok := r.Allowed[name]
	if !ok {
		return nil, fmt.Errorf("run %s: %w", name, ErrNotAllowed)
	}
	path := ""
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			path = p
			break
		}
	}
	if path == "" {
		return nil, fmt.Errorf("run %s: %w", name, fs.ErrNotExist)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	limit := r.MaxOutput
	if limit <= 0 {
		limit = 16 << 20
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"LC_ALL=C", "LANG=C"}
	out := &capped{limit: limit}
	errOut := &capped{limit: 4096}
	cmd.Stdout = out
	cmd.Stderr = errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.buf.Bytes(), fmt.Errorf("run %s: %w", name, ctx.Err())
	}
	if err != nil {
		if msg := strings.Join(strings.Fields(errOut.buf.String()), " "); msg != "" {
			return out.buf.Bytes(), fmt.Errorf("run %s: %w: %s", name, err, msg)
		}
		return out.buf.Bytes(), fmt.Errorf("run %s: %w", name, err)
	}
	if out.truncated {
		return out.buf.Bytes(), fmt.Errorf("run %s: output exceeds %d bytes", name, limit)
	}
	return out.buf.Bytes(), nil
}

type capped struct {
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); room < len(p) {
		if room > 0 {
			c.buf.Write(p[:room])
		}
		c.truncated = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

// SystemCommands is the allow-list of the real host: every program a
// detector may run, by absolute path per OS. Adding a command here is a
// review point.
func SystemCommands(goos string) map[string][]string {
	switch goos {
	case "linux":
		return map[string][]string{
			"systemctl": {"/usr/bin/systemctl", "/bin/systemctl"},
			"rpm":       {"/usr/bin/rpm", "/bin/rpm"},
			"loginctl":  {"/usr/bin/loginctl", "/bin/loginctl"},
		}
	case "darwin":
		return map[string][]string{
			"launchctl":       {"/bin/launchctl"},
			"ioreg":           {"/usr/sbin/ioreg"},
			"system_profiler": {"/usr/sbin/system_profiler"},
			"defaults":        {"/usr/bin/defaults"},
		}
	default:
		return map[string][]string{}
	}
}

// AllowedCommandNames lists the names in an allow-list, sorted.
func AllowedCommandNames(m map[string][]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SystemRoot is the directory the real Host's FS is rooted at.
func SystemRoot() string {
	if runtime.GOOS == "windows" {
		drive := os.Getenv("SystemDrive")
		if drive == "" {
			drive = "C:"
		}
		return drive + string(filepath.Separator)
	}
	return "/"
}

// SystemHost returns the Host of the machine this process runs on.
func SystemHost(log *zap.Logger) *Host {
	if log == nil {
		log = zap.NewNop()
	}
	return &Host{
		GOOS:   runtime.GOOS,
		GOARCH: runtime.GOARCH,
		FS:     os.DirFS(SystemRoot()),
		Exec:   &ExecRunner{Allowed: SystemCommands(runtime.GOOS)},
		Proc:   liveProcessTable{},
		Now:    time.Now,
		Log:    log,
	}
}

package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/agent"
	"github.com/farmwatch/farmwatch/agent/localapi"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// Checkup statuses.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
	checkSkip = "skip"
)

// checkup is one named check of `farmwatch doctor`.
type checkup struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Thresholds of the checkups.
const (
	certWarnBefore = 7 * 24 * time.Hour
	skewWarn       = time.Minute
	skewFail       = 5 * time.Minute
	backlogWarn    = 1000
)

// doctor runs the checkups. Its inputs are values so that tests give each
// case its own.
type doctor struct {
	cfg      agent.Config
	cfgErr   error
	endpoint string
	log      *zap.Logger
	now      func() time.Time
	// admin reports whether this process runs as root / an elevated
	// administrator.
	admin func() bool
	// host is the host detectors observe when the service cannot say.
	host func(*zap.Logger) *detectors.Host
	// observe forces observing each detector here, even when the service
	// could report its last check.
	observe bool
	// timeout bounds each network checkup.
	timeout time.Duration

	// What earlier checkups learnt, for later ones.
	status *localapi.Status
	scan   *localapi.LastScan
	state  *transport.State
	date   time.Time // the collector's Date header
	sentAt time.Time // when the request that got it was sent
	gotAt  time.Time
}

func doctorCmd(g *globals) *cobra.Command {
	var (
		asJSON   bool
		observe  bool
		endpoint string
	)
	cmd := &cobra.Command{
		Use:   "doctor [--json]",
		Short: "run named checkups of this agent (service, permissions, enrollment, certificate, collector, TLS, clock, queue, detectors) and say how to fix each failure",
		Long: `doctor runs named checkups, each ok, warn, fail or skip with a detail and,
for what is not ok, the fix: config, service (the local API answers),
permissions (state directory and key files; running as root/administrator),
enrollment, certificate (warn within 7 days of expiry), collector (TCP),
tls (TLS 1.3 with the pinned CA and the client certificate; the collector
accepts this device), clock (skew against the collector's Date header:
warn from 1 minute, fail from 5), queue (depth, drops, repaired damage; from
the service) and detector:<name> for each enabled detector (the health of
the service's last check, or, when the service cannot say or with
--observe, one observation here with the configured deadline).
Run it as root (sudo) or as an elevated administrator: the state directory
is readable by them only.

Exit codes: 0 every checkup ok, warn or skip; 1 a checkup failed; 2 bad usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := g.load()
			if err != nil {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage {
					return err
				}
				// A bad configuration is a checkup result, not the end.
				log = zap.NewNop()
			}
			d := &doctor{cfg: cfg, cfgErr: err, endpoint: endpoint, log: log, now: time.Now, admin: runningAsAdmin,
				host: detectors.SystemHost, observe: observe, timeout: 15 * time.Second}
			if d.endpoint == "" {
				d.endpoint = cfg.LocalAPI.Endpoint
			}
			if d.endpoint == "" {
				d.endpoint = localapi.DefaultEndpoint(runtime.GOOS)
			}
			results := d.run(cmd.Context())
			if asJSON {
				if err := writeJSON(g, struct {
					OK     bool      `json:"ok"`
					Checks []checkup `json:"checks"`
				}{!anyFailed(results), results}); err != nil {
					return err
				}
			} else if err := writeCheckups(g.stdout, results); err != nil {
				return err
			}
			if n := countStatus(results, checkFail); n > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("%d checkup(s) failed", n)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"ok","checks":[{"name","status","detail","fix"}]}`)
	cmd.Flags().BoolVar(&observe, "observe", false, "observe each detector here even when the service reports its last check")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "local API socket or pipe (default: local_api.endpoint of the configuration)")
	return cmd
}

// run runs every checkup in order; later ones use what earlier ones
// learnt.
func (d *doctor) run(ctx context.Context) []checkup {
	out := []checkup{d.checkConfig(), d.checkService(ctx), d.checkPermissions(), d.checkEnrollment()}
	out = append(out, d.checkCertificate(), d.checkCollector(ctx))
	out = append(out, d.checkTLS(ctx), d.checkClock(), d.checkQueue())
	return append(out, d.checkDetectors(ctx)...)
}

func (d *doctor) checkConfig() checkup {
	c := checkup{Name: "config"}
	if d.cfgErr != nil {
		c.Status, c.Detail = checkFail, d.cfgErr.Error()
		c.Fix = "correct the configuration file (docs/configuration.md lists every key); the service refuses to start with it"
		return c
	}
	c.Status = checkOK
	if d.cfg.Source == "" {
		c.Detail = "no configuration file: built-in defaults and environment"
	} else {
		c.Detail = d.cfg.Source + " is valid"
	}
	return c
}

func (d *doctor) checkService(ctx context.Context) checkup {
	c := checkup{Name: "service"}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	cl := localapi.NewClient(d.endpoint)
	st, err := cl.Status(ctx)
	switch {
	case errors.Is(err, localapi.ErrNotRunning):
		c.Status, c.Detail = checkFail, fmt.Sprintf("the farmwatch service is not running (nothing answers at %s)", d.endpoint)
		c.Fix = serviceFix(runtime.GOOS)
		return c
	case err != nil:
		c.Status, c.Detail = checkFail, err.Error()
		c.Fix = "check the service log; restart it with `farmwatch service stop` and `farmwatch service start`"
		return c
	}
	d.status = st
	if scan, err := cl.LastScan(ctx); err == nil {
		d.scan = scan
	}
	c.Status = checkOK
	c.Detail = fmt.Sprintf("running (%s, local API at %s)", orUnknown(st.AgentVersion), d.endpoint)
	if !st.StartedAt.IsZero() {
		c.Detail += fmt.Sprintf(", up %s", d.now().Sub(st.StartedAt).Round(time.Second))
	}
	return c
}

func serviceFix(goos string) string {
	if goos == "windows" {
		return "start it from an administrator prompt: `farmwatch service start` (install it first with `farmwatch service install` if needed)"
	}
	return "start it: `sudo farmwatch service start` (install it first with `sudo farmwatch service install` if needed)"
}

func (d *doctor) checkPermissions() checkup {
	c := checkup{Name: "permissions", Status: checkOK}
	var problems, fixes []string
	if !d.admin() {
		c.Status = checkWarn
		problems = append(problems, "doctor is not running as root/administrator, so it cannot read everything the service uses")
		fixes = append(fixes, "run `sudo farmwatch doctor` (Windows: from an elevated prompt)")
	}
	dir := d.cfg.StateDir
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Status = checkFail
		problems = append(problems, "state directory "+dir+" does not exist")
		fixes = append(fixes, "enroll this device (`sudo farmwatch enroll --server URL --token TOKEN`), which creates it")
	case err != nil:
		c.Status = worse(c.Status, checkWarn)
		problems = append(problems, err.Error())
	default:
		for _, p := range statePermProblems(dir, fi) {
			c.Status = checkFail
			problems = append(problems, p.problem)
			fixes = append(fixes, p.fix)
		}
	}
	if c.Status == checkOK {
		c.Detail = "state directory " + dir + " and its keys are private to the service's account" + ownerNote()
		return c
	}
	c.Detail, c.Fix = strings.Join(problems, "; "), strings.Join(fixes, "; ")
	return c
}

// permProblem is one permission that is wrong, with its fix.
type permProblem struct{ problem, fix string }

// statePermProblems checks the state directory and its secret files: the
// directory must not be writable by group or others and, on unix, must
// belong to root; the device key and fleet key must be 0600.
func statePermProblems(dir string, fi fs.FileInfo) []permProblem {
	var out []permProblem
	if runtime.GOOS == "windows" {
		return nil // ACLs, not modes; the installer sets them
	}
	if fi.Mode().Perm()&0o022 != 0 {
		out = append(out, permProblem{fmt.Sprintf("state directory %s is writable by group or others (mode %v)", dir, fi.Mode().Perm()), "sudo chmod 700 " + dir})
	}
	if uid, ok := fileOwner(fi); ok && uid != 0 {
		out = append(out, permProblem{fmt.Sprintf("state directory %s belongs to uid %d, not root", dir, uid), "sudo chown -R root " + dir})
	}
	for _, name := range []string{transport.KeyFileName, transport.FleetKeyFileName} {
		p := filepath.Join(dir, name)
		kfi, err := os.Stat(p)
		if err != nil {
			continue // the enrollment checkup says what is missing
		}
		if kfi.Mode().Perm()&0o077 != 0 {
			out = append(out, permProblem{fmt.Sprintf("%s is readable by others (mode %v)", p, kfi.Mode().Perm()), "sudo chmod 600 " + p})
		}
	}
	return out
}

func (d *doctor) checkEnrollment() checkup {
	c := checkup{Name: "enrollment"}
	st, err := transport.LoadState(d.cfg.StateDir)
	switch {
	case errors.Is(err, transport.ErrNotEnrolled):
		c.Status, c.Detail = checkFail, "this device is not enrolled (no "+filepath.Join(d.cfg.StateDir, transport.EnrollmentFileName)+")"
		c.Fix = "enroll it: `sudo farmwatch enroll --server URL --token TOKEN` (a token from `farmwatch-collector token create`), or set enrollment.server and token_file in the configuration"
		return c
	case errors.Is(err, fs.ErrPermission):
		c.Status, c.Detail = checkFail, err.Error()
		c.Fix = "run `sudo farmwatch doctor`: the state directory is readable by root only"
		return c
	case err != nil:
		c.Status, c.Detail = checkFail, err.Error()
		c.Fix = "the enrollment files are damaged or do not match: enroll again (`sudo farmwatch enroll --server URL --token TOKEN`); the device key is kept, so the device keeps its id"
		return c
	}
	d.state = st
	c.Status = checkOK
	c.Detail = fmt.Sprintf("enrolled as %s with %s since %s", st.Enrollment.DeviceID, st.Enrollment.Server, st.Enrollment.EnrolledAt.Format("2006-01-02"))
	return c
}

func (d *doctor) checkCertificate() checkup {
	if d.state == nil {
		return checkup{Name: "certificate", Status: checkSkip, Detail: "no enrollment to check"}
	}
	return certificateCheckup(d.state.Cert.Leaf.NotBefore, d.state.Cert.Leaf.NotAfter, d.state.Enrollment.RenewAt(), d.now())
}

// certificateCheckup judges the client certificate's validity at now.
func certificateCheckup(notBefore, notAfter, renewAt, now time.Time) checkup {
	c := checkup{Name: "certificate"}
	left := notAfter.Sub(now)
	renewFix := "the service renews the certificate at two thirds of its lifetime when it reaches the collector: check the service and collector checkups; if it is revoked or expired, enroll again"
	switch {
	case now.Before(notBefore):
		c.Status, c.Detail = checkFail, fmt.Sprintf("the certificate is not valid before %s: this laptop's clock is behind", notBefore.UTC().Format(time.RFC3339))
		c.Fix = "set the clock right (enable network time)"
	case left <= 0:
		c.Status, c.Detail, c.Fix = checkFail, fmt.Sprintf("the client certificate expired at %s", notAfter.UTC().Format(time.RFC3339)), "enroll again: `sudo farmwatch enroll --server URL --token TOKEN`"
	case left < certWarnBefore:
		c.Status, c.Detail, c.Fix = checkWarn, fmt.Sprintf("the client certificate expires in %s (%s)", left.Round(time.Hour), notAfter.UTC().Format(time.RFC3339)), renewFix
	default:
		c.Status = checkOK
		c.Detail = fmt.Sprintf("valid until %s (%d days); renewal due from %s", notAfter.UTC().Format("2006-01-02"), int(left.Hours()/24), renewAt.UTC().Format("2006-01-02"))
	}
	return c
}

// collectorAddr is host:port of the enrolled collector.
func (d *doctor) collectorAddr() (host, addr string, err error) {
	u, err := url.Parse(d.state.Enrollment.Server)
	if err != nil || u.Hostname() == "" {
		return "", "", fmt.Errorf("enrolled server %q is not a URL", d.state.Enrollment.Server)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return u.Hostname(), net.JoinHostPort(u.Hostname(), port), nil
}

func (d *doctor) checkCollector(ctx context.Context) checkup {
	c := checkup{Name: "collector"}
	if d.state == nil {
		c.Status, c.Detail = checkSkip, "no enrollment: no collector to reach"
		return c
	}
	_, addr, err := d.collectorAddr()
	if err != nil {
		c.Status, c.Detail, c.Fix = checkFail, err.Error(), "enroll again with the collector's URL"
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.Status, c.Detail = checkFail, fmt.Sprintf("cannot reach %s: %v", addr, err)
		c.Fix = "check the network, DNS and firewall between this laptop and the collector (outbound TCP to " + addr + ")"
		if os.Getenv("HTTPS_PROXY") != "" || os.Getenv("https_proxy") != "" {
			c.Detail += " (a proxy is set in the environment; the service may reach the collector through it)"
		}
		return c
	}
	conn.Close()
	c.Status, c.Detail = checkOK, "TCP connection to "+addr+" opened"
	return c
}

func (d *doctor) checkTLS(ctx context.Context) checkup {
	c := checkup{Name: "tls"}
	if d.state == nil {
		c.Status, c.Detail = checkSkip, "no enrollment: no collector to talk to"
		return c
	}
	host, _, err := d.collectorAddr()
	if err != nil {
		c.Status, c.Detail = checkSkip, err.Error()
		return c
	}
	cert := d.state.Cert
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: d.state.CA, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, ServerName: host}
	var cs tls.ConnectionState
	tr := &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&tls.Dialer{Config: tc}).DialContext(ctx, network, addr)
			if err == nil {
				cs = conn.(*tls.Conn).ConnectionState()
			}
			return conn, err
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.state.Enrollment.Server+transport.PathPolicy, nil)
	if err != nil {
		c.Status, c.Detail = checkFail, err.Error()
		return c
	}
	d.sentAt = d.now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		c.Status, c.Detail = checkFail, "TLS 1.3 with the pinned collector CA failed: "+err.Error()
		c.Fix = "if the certificate is unknown to the collector or the collector's CA changed, enroll again; a TLS-inspecting proxy must let the collector's address through untouched"
		return c
	}
	defer resp.Body.Close()
	d.gotAt = d.now()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		d.date = t
	}
	version := tls.VersionName(cs.Version)
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotModified:
		c.Status = checkOK
		c.Detail = fmt.Sprintf("%s with %s, collector CA pinned, client certificate accepted", version, host)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		var er transport.ErrorResponse
		_ = json.Unmarshal(body, &er) // the status alone says enough when the body is not JSON
		c.Status = checkFail
		c.Detail = fmt.Sprintf("%s handshake done, but the collector refuses this device (%d %s %s)", version, resp.StatusCode, er.Reason, er.Error)
		c.Fix = "the device may be revoked or unknown to this collector: ask the collector's administrator, then enroll again"
	default:
		c.Status = checkWarn
		c.Detail = fmt.Sprintf("%s handshake done; the collector answered %d", version, resp.StatusCode)
		c.Fix = "the collector may be overloaded or misconfigured: see its log"
	}
	return c
}

func (d *doctor) checkClock() checkup {
	if d.date.IsZero() {
		return checkup{Name: "clock", Status: checkSkip, Detail: "the collector's time is unknown (the tls checkup did not get an answer)"}
	}
	// Date has one-second resolution and was stamped between sending and
	// receiving: compare it with the middle of the exchange.
	mid := d.sentAt.Add(d.gotAt.Sub(d.sentAt) / 2)
	return clockCheckup(mid.Sub(d.date))
}

// clockCheckup judges the skew of this laptop's clock against the
// collector's (positive: the laptop is ahead).
func clockCheckup(skew time.Duration) checkup {
	c := checkup{Name: "clock"}
	abs := skew.Abs()
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	switch {
	case abs < 2*time.Second:
		c.Status, c.Detail = checkOK, "within 2 seconds of the collector's clock"
		return c
	case abs < skewWarn:
		c.Status = checkOK
	case abs < skewFail:
		c.Status = checkWarn
	default:
		c.Status = checkFail
	}
	c.Detail = fmt.Sprintf("this laptop's clock is %s %s the collector's", abs.Round(time.Second), dir)
	if c.Status != checkOK {
		c.Fix = "enable network time (timedatectl set-ntp true; macOS: Date & Time settings; Windows: w32tm /resync); findings carry this clock's times"
	}
	return c
}

func (d *doctor) checkQueue() checkup {
	if d.status == nil {
		return checkup{Name: "queue", Status: checkSkip, Detail: "the service is not running; its queue is read when it runs (the service locks it)"}
	}
	return queueCheckup(d.status.Queue, d.status.Connection)
}

// queueCheckup judges the outbound queue as the service reports it.
func queueCheckup(q localapi.Queue, conn localapi.Connection) checkup {
	c := checkup{Name: "queue", Status: checkOK}
	c.Detail = fmt.Sprintf("%d report(s) waiting (%d bytes), %d dropped, %d salvaged and %d damaged bytes skipped at start", q.Depth, q.Bytes, q.Dropped, q.Recovered, q.SkippedBytes)
	var fixes []string
	if q.Dropped > 0 {
		c.Status = checkWarn
		fixes = append(fixes, "reports were dropped because the queue was full: restore the connection to the collector, or raise queue.max_bytes")
	}
	if q.Recovered > 0 || q.SkippedBytes > 0 {
		c.Status = checkWarn
		fixes = append(fixes, "the queue was damaged (a crash or power loss) and repaired at start; if it recurs, check the disk")
	}
	if q.Depth >= backlogWarn || (q.Depth > 0 && (conn.State == localapi.ConnUnreachable || conn.State == localapi.ConnRefused)) {
		c.Status = checkWarn
		fixes = append(fixes, "reports are piling up: "+conn.State+" ("+conn.LastError+"); see the collector and tls checkups")
	}
	c.Fix = strings.Join(fixes, "; ")
	return c
}

// checkDetectors reports each enabled detector: from the service's last
// check when it has one, else (or with --observe) by observing here once.
func (d *doctor) checkDetectors(ctx context.Context) []checkup {
	if !d.observe && d.scan != nil && len(d.scan.Detectors) > 0 {
		when := "the service's last check"
		if !d.scan.At.IsZero() {
			when += " " + d.now().Sub(d.scan.At).Round(time.Second).String() + " ago"
		}
		var out []checkup
		for _, r := range d.scan.Detectors {
			out = append(out, detectorCheckup(r.Name, detectors.Status(r.Status), r.Error, when))
		}
		return out
	}
	names := d.enabledDetectors()
	var out []checkup
	for _, n := range names {
		sc := &agent.Scanner{Config: d.cfg, Log: d.log, Only: []string{n}}
		_, results, err := sc.Observe(ctx, d.host(d.log))
		switch {
		case err != nil:
			out = append(out, checkup{Name: "detector:" + n, Status: checkFail, Detail: err.Error(), Fix: "see the configuration checkup"})
		case len(results) == 0:
			out = append(out, checkup{Name: "detector:" + n, Status: checkFail, Detail: "the detector did not run"})
		default:
			r := results[0]
			out = append(out, detectorCheckup(n, r.Status, r.Error, fmt.Sprintf("observed here now in %.0f ms", r.DurationMS)))
		}
	}
	return out
}

// enabledDetectors are the detectors the service runs: the fleet policy's
// list when the doctor can read it, else the configuration's, else all.
func (d *doctor) enabledDetectors() []string {
	names := d.cfg.Detectors.Enabled
	if pol, err := transport.LoadPolicy(d.cfg.StateDir); err == nil && pol != nil && len(pol.Policy.Detectors) > 0 {
		names = pol.Policy.Detectors
	}
	if len(names) == 0 {
		names = agent.DetectorNames()
	}
	names = slices.Clone(names)
	slices.Sort(names)
	return slices.Compact(names)
}

// detectorCheckup judges one detector's run; source says where the
// result comes from.
func detectorCheckup(name string, status detectors.Status, errText, source string) checkup {
	c := checkup{Name: "detector:" + name}
	fix := "run `sudo farmwatch scan --detectors " + name + "` to see its findings and notes; the service log has the details"
	switch {
	case status == detectors.StatusOK && errText == "":
		c.Status, c.Detail = checkOK, "works ("+source+")"
	case status == detectors.StatusOK:
		c.Status, c.Detail, c.Fix = checkWarn, "works partly ("+source+"): "+errText, fix+"; a source that cannot be read usually needs root or a missing tool"
	case status == detectors.StatusUnsupported:
		c.Status, c.Detail = checkSkip, "not supported on "+runtime.GOOS+" ("+source+")"
	default:
		c.Status, c.Detail, c.Fix = checkFail, fmt.Sprintf("%s (%s): %s", status, source, errText), fix
	}
	return c
}

func writeCheckups(w io.Writer, cs []checkup) error {
	b := &strings.Builder{}
	width := 0
	for _, c := range cs {
		width = max(width, len(c.Name))
	}
	for _, c := range cs {
		label := c.Status
		if c.Status == checkFail {
			label = "FAIL"
		}
		fmt.Fprintf(b, "%-4s  %-*s  %s\n", label, width, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(b, "      %-*s  fix: %s\n", width, "", c.Fix)
		}
	}
	fmt.Fprintf(b, "\n%d ok, %d warning(s), %d failed, %d skipped\n", countStatus(cs, checkOK), countStatus(cs, checkWarn), countStatus(cs, checkFail), countStatus(cs, checkSkip))
	_, err := io.WriteString(w, b.String())
	return err
}

func countStatus(cs []checkup, status string) int {
	n := 0
	for _, c := range cs {
		if c.Status == status {
			n++
		}
	}
	return n
}

func anyFailed(cs []checkup) bool { return countStatus(cs, checkFail) > 0 }

// worse returns the more severe of two statuses.
func worse(a, b string) string {
	rank := map[string]int{checkSkip: 0, checkOK: 1, checkWarn: 2, checkFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func orUnknown(s string) string {
	if s == "" {
		return "version unknown"
	}
	return s
}

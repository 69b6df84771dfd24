package sink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

var sendTime = time.Date(2026, 11, 20, 11, 0, 5, 123456789, time.UTC)

func newTestSyslog(t *testing.T, c Config) *syslogSink {
	t.Helper()
	c.Name, c.Type = "siem", TypeSyslog
	if c.Hostname == "" {
		c.Hostname = "collector-test"
	}
	s, err := New(c, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ss := s.(*syslogSink)
	ss.now = func() time.Time { return sendTime }
	return ss
}

func TestSyslogMessage(t *testing.T) {
	t.Parallel()
	pid := strconv.Itoa(os.Getpid())
	s := newTestSyslog(t, Config{Address: "127.0.0.1:1", Transport: "tcp"})
	msg, err := s.message(sampleEvent(), sendTime)
	if err != nil {
		t.Fatal(err)
	}
	want := `<163>1 2026-11-20T11:00:05.123456Z collector-test farmwatch ` + pid +
		` alert-created [farmwatch@32473 alert_id="42" event="created" severity="high" kind="farm"] ` + formatCEF(sampleEvent())
	if string(msg) != want {
		t.Errorf("message\n got %s\nwant %s", msg, want)
	}
	if got := string(frame([]byte("abc"))); got != "3 abc" {
		t.Errorf("frame = %q", got)
	}

	// Severity and facility mapping; JSON body; escaped SD values.
	j := newTestSyslog(t, Config{Address: "127.0.0.1:1", Transport: "tcp", Format: "json", Facility: "local0", AppName: "fw"})
	for sev, pri := range map[int]int{0: 134, 1: 133, 2: 132, 3: 131, 4: 130} {
		ev := sampleEvent()
		ev.Event = EventUpdated
		ev.Alert.Severity, ev.Alert.Kind = sev, `k"]\`
		msg, err := j.message(ev, sendTime)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := encodeJSON(ev)
		want := fmt.Sprintf(`<%d>1 2026-11-20T11:00:05.123456Z collector-test fw %s alert-updated `+
			`[farmwatch@32473 alert_id="42" event="updated" severity="%s" kind="k\"\]\\"] %s`, pri, pid, severityName(sev), body)
		if string(msg) != want {
			t.Errorf("severity %d\n got %s\nwant %s", sev, msg, want)
		}
	}
}

// TestSyslogReconnect checks the sink notices a receiver that closed the
// connection and delivers on a new one, using a plain listener.
func TestSyslogReconnect(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu     sync.Mutex
		frames []string
	)
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				r := bufio.NewReader(c)
				for {
					n, err := r.ReadString(' ')
					if err != nil {
						return
					}
					size, _ := strconv.Atoi(strings.TrimSpace(n))
					buf := make([]byte, size)
					if _, err := io.ReadFull(r, buf); err != nil {
						return
					}
					mu.Lock()
					frames = append(frames, string(buf))
					mu.Unlock()
				}
			}()
		}
	}()
	s := newTestSyslog(t, Config{Address: ln.Addr().String(), Transport: "tcp"})
	ctx := context.Background()
	ev := sampleEvent()
	if err := s.Deliver(ctx, ev); err != nil {
		t.Fatal(err)
	}
	first := <-conns
	waitFor(t, 5*time.Second, "the first frame", func() bool { mu.Lock(); defer mu.Unlock(); return len(frames) == 1 })
	_ = first.Close() // the receiver restarts
	ev.Alert.ID = 43
	if err := s.Deliver(ctx, ev); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the second frame", func() bool { mu.Lock(); defer mu.Unlock(); return len(frames) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(frames[1], `alert_id="43"`) {
		t.Errorf("second frame: %s", frames[1])
	}
	select {
	case <-conns:
	default:
		t.Error("the second delivery did not use a new connection")
	}
}

func TestSyslogUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newTestSyslog(t, Config{Address: addr, Transport: "tcp", Timeout: time.Second})
	if err := s.Deliver(context.Background(), sampleEvent()); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("closed port: %v", err)
	}
}

// rsyslogd is a real rsyslog daemon listening on loopback, writing each
// message it receives from imtcp to raw.log (the message as received,
// %rawmsg%) and parsed.log (the fields its RFC 5424 parser found).
type rsyslogd struct {
	t    *testing.T
	bin  string
	dir  string
	conf string
	port int
	cmd  *exec.Cmd
	// exited is closed when the daemon has exited.
	exited chan struct{}
}

// findRsyslogd returns the rsyslogd binary, failing under CI=true and
// skipping otherwise when it is missing.
func findRsyslogd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err == nil {
		return "/usr/sbin/rsyslogd"
	}
	const msg = "rsyslogd not installed: apt-get install rsyslog rsyslog-gnutls"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// tlsFiles are the PEM files of a test CA and a server certificate it
// signed for 127.0.0.1 and localhost.
type tlsFiles struct{ ca, cert, key string }

func writeTestPKI(t *testing.T, dir, prefix string) tlsFiles {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: prefix + " test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsFiles{
		ca:   filepath.Join(dir, prefix+"-ca.pem"),
		cert: filepath.Join(dir, prefix+"-cert.pem"),
		key:  filepath.Join(dir, prefix+"-key.pem"),
	}
	for path, block := range map[string]*pem.Block{
		f.ca:   {Type: "CERTIFICATE", Bytes: caDER},
		f.cert: {Type: "CERTIFICATE", Bytes: srvDER},
		f.key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRsyslogd writes the configuration and starts the daemon; tls nil
// means plain TCP.
func startRsyslogd(t *testing.T, tls *tlsFiles) *rsyslogd {
	t.Helper()
	r := &rsyslogd{t: t, bin: findRsyslogd(t), dir: t.TempDir(), port: freePort(t)}
	var global, module string
	if tls != nil {
		global = fmt.Sprintf(` DefaultNetstreamDriverCAFile=%q DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q`, tls.ca, tls.cert, tls.key)
		module = ` StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"`
	}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k"%s)
module(load="imtcp"%s)
input(type="imtcp" address="127.0.0.1" port="%d")
template(name="raw" type="string" string="%%rawmsg%%\n")
template(name="parsed" type="string" string="%%syslogfacility-text%%|%%syslogseverity-text%%|%%hostname%%|%%app-name%%|%%procid%%|%%msgid%%|%%structured-data%%|%%msg%%\n")
if $inputname == "imtcp" then {
  action(type="omfile" file=%q template="raw")
  action(type="omfile" file=%q template="parsed")
}
`, r.dir, global, module, r.port, filepath.Join(r.dir, "raw.log"), filepath.Join(r.dir, "parsed.log"))
	r.conf = filepath.Join(r.dir, "rsyslog.conf")
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop) // first: start may fail after the daemon started
	r.start()
	return r
}

func (r *rsyslogd) start() {
	r.t.Helper()
	stderr := new(bytes.Buffer)
	cmd := exec.Command(r.bin, "-n", "-f", r.conf, "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start rsyslogd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.cmd, r.exited = cmd, exited
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("rsyslogd exited: %s", stderr)
		default:
		}
		if time.Now().After(deadline) {
			r.stop() // stderr is complete once it has exited
			r.t.Fatalf("rsyslogd not listening on %s: %s", r.addr(), stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rsyslogd) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *rsyslogd) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// lines waits until path holds n lines and returns them.
func (r *rsyslogd) lines(name string, n int) []string {
	r.t.Helper()
	var lines []string
	waitFor(r.t, 15*time.Second, fmt.Sprintf("%d lines in %s", n, name), func() bool {
		b, _ := os.ReadFile(filepath.Join(r.dir, name))
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		return len(b) > 0 && len(lines) >= n
	})
	return lines
}

func TestSyslogRsyslogTCP(t *testing.T) {
	t.Parallel()
	r := startRsyslogd(t, nil)
	s := newTestSyslog(t, Config{Address: r.addr(), Transport: "tcp"})
	ctx := context.Background()

	ev1 := sampleEvent()
	ev2 := sampleEvent()
	ev2.Event, ev2.Alert.ID, ev2.Alert.Severity = EventUpdated, 43, 4
	ev2.Alert.Title = "title with ] and \" and \\ and = and | in it"
	for _, ev := range []Event{ev1, ev2} {
		if err := s.Deliver(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// rsyslog restarts: the kept connection is dead, the sink reconnects.
	// (Wait for the messages first: syslog over TCP has no
	// acknowledgement, and rsyslog drops what it has not read yet when
	// stopped.)
	r.lines("raw.log", 2)
	r.stop()
	r.start()
	ev3 := sampleEvent()
	ev3.Alert.ID = 44
	if err := s.Deliver(ctx, ev3); err != nil {
		t.Fatal(err)
	}

	raw := r.lines("raw.log", 3)
	for i, ev := range []Event{ev1, ev2, ev3} {
		want, _ := s.message(ev, sendTime)
		if raw[i] != string(want) {
			t.Errorf("raw message %d\n got %s\nwant %s", i, raw[i], want)
		}
	}
	if Version == "dev" && !strings.HasSuffix(raw[0], "] "+wantSampleCEF) {
		t.Errorf("first message does not carry the expected CEF: %s", raw[0])
	}
	parsed := r.lines("parsed.log", 3)
	pid := strconv.Itoa(os.Getpid())
	wantParsed := []string{
		`local4|err|collector-test|farmwatch|` + pid + `|alert-created|[farmwatch@32473 alert_id="42" event="created" severity="high" kind="farm"]|` + formatCEF(ev1),
		`local4|crit|collector-test|farmwatch|` + pid + `|alert-updated|[farmwatch@32473 alert_id="43" event="updated" severity="critical" kind="farm"]|` + formatCEF(ev2),
		`local4|err|collector-test|farmwatch|` + pid + `|alert-created|[farmwatch@32473 alert_id="44" event="created" severity="high" kind="farm"]|` + formatCEF(ev3),
	}
	for i := range wantParsed {
		if parsed[i] != wantParsed[i] {
			t.Errorf("rsyslog parsed message %d as\n got %s\nwant %s", i, parsed[i], wantParsed[i])
		}
	}
}

func TestSyslogRsyslogTLS(t *testing.T) {
	t.Parallel()
	pkiDir := t.TempDir()
	pki := writeTestPKI(t, pkiDir, "siem")
	r := startRsyslogd(t, &pki)
	s := newTestSyslog(t, Config{Address: r.addr(), Transport: "tls", CAFile: pki.ca, Format: "json"})
	ev := bigEvent()
	ev.Alert.Title = `quoted "title" with ] and \`
	if err := s.Deliver(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.conn.(*tls.Conn); !ok {
		t.Fatalf("connection is a %T, not TLS", s.conn)
	}
	want, _ := s.message(ev, sendTime)
	if raw := r.lines("raw.log", 1); raw[0] != string(want) {
		t.Errorf("raw message\n got %s\nwant %s", raw[0], want)
	}
	parsed := r.lines("parsed.log", 1)
	fields := strings.SplitN(parsed[0], "|", 8)
	if len(fields) != 8 {
		t.Fatalf("parsed: %s", parsed[0])
	}
	if got, want := fields[6], `[farmwatch@32473 alert_id="42" event="created" severity="high" kind="farm"]`; got != want {
		t.Errorf("structured data %s, want %s", got, want)
	}
	var doc AlertDocument
	if err := json.Unmarshal([]byte(fields[7]), &doc); err != nil {
		t.Fatalf("rsyslog's msg is not the JSON document: %v\n%s", err, fields[7])
	}
	if doc.Schema != SchemaAlertV1 || doc.Alert.Title != ev.Alert.Title || len(doc.Alert.Members) != 12 {
		t.Errorf("document: %+v", doc)
	}

	// A receiver whose certificate is not from the pinned CA is refused.
	other := writeTestPKI(t, pkiDir, "other")
	s2 := newTestSyslog(t, Config{Address: r.addr(), Transport: "tls", CAFile: other.ca})
	if err := s2.Deliver(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unpinned receiver: %v", err)
	}
}

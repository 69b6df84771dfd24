package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Syslog messages (RFC 5424) carry one alert each:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [farmwatch@32473 alert_id="42" event="created" severity="high" kind="farm"] MSG
//
// PRI is facility*8 + severity, the severity mapped from the alert's:
// critical→2 (crit), high→3 (err), medium→4 (warning), low→5 (notice),
// info→6 (info); facility local4 unless configured. TIMESTAMP is the
// sending time in UTC with microseconds, PROCID the collector's pid,
// MSGID alert-created or alert-updated. The structured-data element
// uses the documentation enterprise number 32473 (RFC 5612); its values
// escape ", \ and ] with a backslash. MSG is the CEF line (format cef)
// or the farmwatch.alert/v1 JSON document (format json), without a BOM.
//
// Framing is RFC 6587 octet counting ("LEN SP MSG") over TCP, or the
// same over TLS (RFC 5425, TLS 1.2 or later). The connection is kept;
// before reusing it the sink checks that the receiver has not closed it,
// and a write that fails on a kept connection is tried once more on a
// new one. Receivers must accept messages of the JSON document's size:
// rsyslog's default maxMessageSize is 8k, so raise it (e.g. 64k) for
// format json with large alerts.

// sdID is the structured-data element id.
const sdID = "farmwatch@32473"

// syslogSeverity maps info..critical to RFC 5424 severities.
var syslogSeverity = [...]int{6, 5, 4, 3, 2}

type syslogSink struct {
	name      string
	address   string
	tlsConfig *tls.Config // nil: plain TCP
	json      bool
	appName   string
	hostname  string
	facility  int
	procID    string
	timeout   time.Duration
	log       *zap.Logger
	now       func() time.Time

	mu   sync.Mutex // serialises Deliver and Close
	conn net.Conn
}

var _ Sink = (*syslogSink)(nil)

func newSyslog(c Config, timeout time.Duration, log *zap.Logger) (*syslogSink, error) {
	s := &syslogSink{
		name:     c.Name,
		address:  c.Address,
		json:     c.Format == "json",
		appName:  c.AppName,
		hostname: c.Hostname,
		facility: facilities[defaultFacility],
		procID:   strconv.Itoa(os.Getpid()),
		timeout:  timeout,
		log:      log,
		now:      time.Now,
	}
	if s.appName == "" {
		s.appName = defaultAppName
	}
	if c.Facility != "" {
		s.facility = facilities[c.Facility]
	}
	if s.hostname == "" {
		s.hostname = localHostname()
	}
	if c.Transport != "tcp" {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("sink %s: ca_file: %w", c.Name, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("sink %s: ca_file %s: no PEM certificate", c.Name, c.CAFile)
			}
			s.tlsConfig.RootCAs = pool
		}
	}
	return s, nil
}

// localHostname is this host's name as an RFC 5424 HOSTNAME, "-" if
// unknown.
func localHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(h) && b.Len() < 255; i++ {
		if c := h[i]; c >= 33 && c <= 126 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

func (s *syslogSink) Name() string { return s.name }

// message renders ev as an RFC 5424 message (without framing).
func (s *syslogSink) message(ev Event, at time.Time) ([]byte, error) {
	var body string
	if s.json {
		b, err := encodeJSON(ev)
		if err != nil {
			return nil, err
		}
		body = string(b)
	} else {
		body = formatCEF(ev)
	}
	sev := clampSeverity(ev.Alert.Severity)
	msgID := "alert-" + ev.Event
	if !printASCII(msgID, 32) {
		msgID = "alert"
	}
	var b strings.Builder
	b.Grow(160 + len(body))
	b.WriteByte('<')
	b.WriteString(strconv.Itoa(s.facility*8 + syslogSeverity[sev]))
	b.WriteString(">1 ")
	b.WriteString(at.UTC().Format("2006-01-02T15:04:05.000000Z"))
	for _, f := range [...]string{s.hostname, s.appName, s.procID, msgID} {
		b.WriteByte(' ')
		b.WriteString(f)
	}
	b.WriteString(" [" + sdID)
	sdParam(&b, "alert_id", strconv.FormatInt(ev.Alert.ID, 10))
	sdParam(&b, "event", ev.Event)
	sdParam(&b, "severity", severityName(ev.Alert.Severity))
	sdParam(&b, "kind", ev.Alert.Kind)
	b.WriteString("] ")
	b.WriteString(body)
	return []byte(b.String()), nil
}

// sdParam writes ` name="value"` with the value escaped.
func sdParam(b *strings.Builder, name, value string) {
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(sdEscape(value))
	b.WriteByte('"')
}

// sdEscape escapes an RFC 5424 SD-PARAM value: ", \ and ] get a
// backslash; invalid UTF-8 becomes U+FFFD (PARAM-VALUE is UTF-8).
func sdEscape(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsAny(s, "\"\\]") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c == ']' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// frame prefixes msg with its octet count (RFC 6587 section 3.4.1).
func frame(msg []byte) []byte {
	n := strconv.Itoa(len(msg))
	out := make([]byte, 0, len(n)+1+len(msg))
	out = append(out, n...)
	out = append(out, ' ')
	return append(out, msg...)
}

func (s *syslogSink) Deliver(ctx context.Context, ev Event) error {
	msg, err := s.message(ev, s.now())
	if err != nil {
		return fmt.Errorf("%w: syslog %s: encode alert %d: %w", ErrPermanent, s.address, ev.Alert.ID, err)
	}
	data := frame(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.conn != nil
	if kept && !s.alive() {
		s.log.Info("syslog receiver closed the connection; reconnecting", zap.String("address", s.address))
		s.closeConn()
		kept = false
	}
	err = s.send(ctx, data)
	if err != nil && kept && ctx.Err() == nil {
		// The kept connection may have died since the check; one
		// fresh attempt. The receiver may then see the message twice,
		// which at-least-once delivery allows.
		s.log.Info("syslog write failed on a kept connection; reconnecting", zap.String("address", s.address), zap.Error(err))
		err = s.send(ctx, data)
	}
	return err
}

// send writes data on the connection, dialing first if there is none;
// on error the connection is closed.
func (s *syslogSink) send(ctx context.Context, data []byte) error {
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := s.conn
	if err := conn.SetWriteDeadline(deadline); err != nil {
		s.closeConn()
		return fmt.Errorf("syslog %s: %w", s.address, err)
	}
	// Cancelling ctx interrupts a blocked write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	_, err := conn.Write(data)
	stop()
	if err != nil {
		s.closeConn()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("syslog %s: write: %w", s.address, err)
	}
	return nil
}

func (s *syslogSink) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	nd := &net.Dialer{KeepAlive: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if s.tlsConfig != nil {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: s.tlsConfig}).DialContext(ctx, "tcp", s.address)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", s.address)
	}
	if err != nil {
		return fmt.Errorf("syslog %s: connect: %w", s.address, err)
	}
	s.conn = conn
	s.log.Debug("syslog connected", zap.String("address", s.address), zap.Bool("tls", s.tlsConfig != nil))
	return nil
}

// alive reports whether the kept connection is still open: a syslog
// receiver never sends, so a read that returns EOF or an error (rather
// than timing out) means it has closed or reset the connection. Costs
// up to a millisecond per delivery.
func (s *syslogSink) alive() bool {
	if err := s.conn.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	var one [1]byte
	_, err := s.conn.Read(one[:])
	_ = s.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return err == nil || (errors.As(err, &ne) && ne.Timeout())
}

func (s *syslogSink) closeConn() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

func (s *syslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeConn()
	return nil
}

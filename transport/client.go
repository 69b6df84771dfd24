package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// HTTPError is a non-2xx answer of the collector.
type HTTPError struct {
	Status int
	// Reason is the collector's stable reason code, when it sent one.
	Reason  string
	Message string
	// RetryAfter is the wait the collector asked for (429/503), or 0.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Reason != "" {
		return fmt.Sprintf("collector answered %d (%s): %s", e.Status, e.Reason, msg)
	}
	return fmt.Sprintf("collector answered %d: %s", e.Status, msg)
}

// Temporary reports whether a retry may succeed: server errors,
// throttling and timeouts; not refusals such as a revoked device.
func (e *HTTPError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// tlsConfig is the agent's TLS: 1.3 only, the collector CA pinned (or the
// system roots when pool is nil).
func tlsConfig(pool *x509.CertPool, cert func() *tls.Certificate) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert(), nil }
	}
	return c
}

func newHTTPClient(tc *tls.Config) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     tc,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     5 * time.Minute,
			TLSHandshakeTimeout: 15 * time.Second,
		},
	}
}

// EnrollOptions are the inputs of Enroll.
type EnrollOptions struct {
	// Server is the collector's agent URL, https://host:port.
	Server string
	Token  string
	// CAPEM pins the collector CA for the enrollment request; empty uses
	// the system roots (a collector with a public certificate).
	CAPEM        []byte
	StateDir     string
	Hostname     string
	OS, Arch     string
	AgentVersion string
	Now          func() time.Time
}

// Enroll creates (or reuses) the device key in the state directory, sends
// a CSR with the token, and stores the certificate, the collector CA and
// the fleet key it receives.
func Enroll(ctx context.Context, o EnrollOptions) (*Enrollment, error) {
	server, err := normaliseServer(o.Server)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("enroll: a token is required")
	}
	var pool *x509.CertPool
	if len(o.CAPEM) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CAPEM) {
			return nil, errors.New("enroll: the CA file holds no PEM certificate")
		}
	}
	key, err := LoadOrCreateKey(o.StateDir)
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key)
	if err != nil {
		return nil, err
	}
	req := EnrollRequest{Token: strings.TrimSpace(o.Token), CSR: string(csr), Hostname: o.Hostname, OS: o.OS, Arch: o.Arch, AgentVersion: o.AgentVersion}
	hc := newHTTPClient(tlsConfig(pool, nil))
	defer hc.CloseIdleConnections()
	var resp EnrollResponse
	if err := postJSON(ctx, hc, server+PathEnroll, req, &resp); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return saveEnrollment(o.StateDir, server, key, &resp, now(), false)
}

func normaliseServer(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("server %q is not a URL like https://collector.example:8443", s)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("server %q: only https is allowed", s)
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// Client talks to the collector over mTLS with the enrolled identity.
type Client struct {
	state *State
	http  *http.Client
	log   *zap.Logger
	now   func() time.Time

	mu   sync.Mutex
	cert tls.Certificate
}

// NewClient builds the mTLS client of an enrolled state directory.
func NewClient(st *State, log *zap.Logger) *Client {
	if log == nil {
		log = zap.NewNop()
	}
	c := &Client{state: st, log: log, now: time.Now, cert: st.Cert}
	c.http = newHTTPClient(tlsConfig(st.CA, c.currentCert))
	return c
}

func (c *Client) currentCert() *tls.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	cert := c.cert
	return &cert
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Send posts a batch of envelopes, each already serialised as JSON (as
// the queue holds them), and returns the per-envelope verdicts.
func (c *Client) Send(ctx context.Context, envs []json.RawMessage) (*BatchResponse, error) {
	body, err := json.Marshal(struct {
		Envelopes []json.RawMessage `json:"envelopes"`
	}{envs})
	if err != nil {
		return nil, err
	}
	var resp BatchResponse
	if err := doJSON(ctx, c.http, http.MethodPost, c.state.Enrollment.Server+PathReports, body, nil, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) != len(envs) {
		return nil, fmt.Errorf("collector answered %d results for %d envelopes", len(resp.Results), len(envs))
	}
	return &resp, nil
}

// NeedsRenewal reports whether the certificate is two thirds through its
// lifetime.
func (c *Client) NeedsRenewal(now time.Time) bool {
	return !now.Before(c.state.Enrollment.RenewAt())
}

// Renew asks the collector for a new certificate for the same key over
// mTLS. A revoked device is refused (HTTPError 403, reason "revoked").
func (c *Client) Renew(ctx context.Context) error {
	csr, err := NewCSR(c.state.Key)
	if err != nil {
		return err
	}
	var resp EnrollResponse
	if err := postJSON(ctx, c.http, c.state.Enrollment.Server+PathRenew, EnrollRequest{CSR: string(csr)}, &resp); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	e, err := saveEnrollment(c.state.Dir, c.state.Enrollment.Server, c.state.Key, &resp, c.now(), true)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	st := *c.state
	st.Enrollment = *e
	if err := st.loadCert(); err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	c.mu.Lock()
	c.cert = st.Cert
	c.state.Enrollment = *e
	c.state.Cert = st.Cert
	c.mu.Unlock()
	c.log.Info("client certificate renewed", zap.Time("not_after", e.NotAfter))
	return nil
}

// FetchPolicy gets the fleet policy. It returns nil, nil when the
// collector's version equals have (HTTP 304).
func (c *Client) FetchPolicy(ctx context.Context, have string) (*PolicyDoc, error) {
	hdr := http.Header{}
	if have != "" {
		hdr.Set("If-None-Match", strconv.Quote(have))
	}
	var doc PolicyDoc
	err := doJSON(ctx, c.http, http.MethodGet, c.state.Enrollment.Server+PathPolicy, nil, hdr, &doc)
	if errors.Is(err, errNotModified) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return &doc, nil
}

var errNotModified = errors.New("not modified")

func postJSON(ctx context.Context, hc *http.Client, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return doJSON(ctx, hc, http.MethodPost, url, body, nil, out)
}

// maxAnswer bounds what the agent reads from the collector.
const maxAnswer = 4 << 20

func doJSON(ctx context.Context, hc *http.Client, method, url string, body []byte, hdr http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode == http.StatusNotModified {
		return errNotModified
	}
	if resp.StatusCode/100 != 2 {
		he := &HTTPError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
		var er ErrorResponse
		if json.Unmarshal(data, &er) == nil {
			he.Reason, he.Message = er.Reason, er.Error
		}
		return he
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("answer of %s: %w", url, err)
	}
	return nil
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or
// unreadable. Waits are capped at one hour.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, time.Hour)
}

// nextCert returns the DER of the next CERTIFICATE block and the rest.
func nextCert(data []byte) ([]byte, []byte) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, nil
		}
		if b.Type == "CERTIFICATE" {
			return b.Bytes, data
		}
	}
}

package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Webhook request headers.
const (
	// HeaderTimestamp carries the signing time, in Unix seconds.
	HeaderTimestamp = "X-Farmwatch-Timestamp"
	// HeaderSignature carries "sha256=" and the lower-case hex
	// HMAC-SHA256 of timestamp + "." + body under the shared secret.
	HeaderSignature = "X-Farmwatch-Signature"
	// HeaderEvent repeats the document's event (created or updated).
	HeaderEvent = "X-Farmwatch-Event"
	// HeaderAlertID repeats the alert id, for receivers that dedupe.
	HeaderAlertID = "X-Farmwatch-Alert-Id"
)

// Webhook verification errors.
var (
	ErrSignature = errors.New("webhook signature mismatch")
	ErrTimestamp = errors.New("webhook timestamp outside the allowed skew")
)

// SignWebhook returns the X-Farmwatch-Signature value of body signed at
// ts (decimal Unix seconds): "sha256=" + hex(HMAC-SHA256(secret,
// ts + "." + body)).
func SignWebhook(secret []byte, ts string, body []byte) string {
	return "sha256=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

// webhookMAC is HMAC-SHA256(secret, ts + "." + body).
func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a farmwatch webhook request, for receivers written
// in Go. ts and sig are the X-Farmwatch-Timestamp and
// X-Farmwatch-Signature headers, body the raw request body (verify
// before parsing it). It fails with ErrTimestamp when ts is not within
// maxSkew of now (maxSkew <= 0 skips the check; 5 minutes is a sensible
// value, and it bounds how long a captured request can be replayed), and
// with ErrSignature when the signature does not match. The comparison is
// constant-time. A receiver should also drop repeats of an alert id and
// event it has already handled: delivery is at-least-once.
//
// In other languages: compute HMAC-SHA256 with the secret over the bytes
// of the timestamp header, a ".", and the body; compare its hex with
// the header after "sha256=".
func VerifyWebhook(secret []byte, ts string, body []byte, sig string, now time.Time, maxSkew time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrTimestamp, ts)
	}
	if maxSkew > 0 {
		skew := now.Sub(time.Unix(sec, 0))
		if skew > maxSkew || skew < -maxSkew {
			return fmt.Errorf("%w: %s off (max %s)", ErrTimestamp, skew.Round(time.Second), maxSkew)
		}
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return fmt.Errorf("%w: want sha256=<hex>", ErrSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: signature is not hex", ErrSignature)
	}
	if !hmac.Equal(got, webhookMAC(secret, ts, body)) {
		return ErrSignature
	}
	return nil
}

// poster POSTs signed bodies: the webhook sink, and the OCSF sink with a
// url.
type poster struct {
	url     string
	secret  []byte // nil: unsigned
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

func newPoster(url string, secret []byte, timeout time.Duration) *poster {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 2
	return &poster{
		url: url, secret: secret, timeout: timeout, now: time.Now,
		client: &http.Client{
			Transport: tr,
			// A redirect is a misconfiguration; following it would
			// resend the signed body to another address.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// post sends body. 2xx is success; 4xx other than 408 and 429 is an
// error wrapping ErrPermanent; anything else is an error to retry.
func (p *poster) post(ctx context.Context, body []byte, contentType string, header http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", redactURL(p.url), err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "farmwatch-collector/"+Version)
	if p.secret != nil {
		ts := strconv.FormatInt(p.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, SignWebhook(p.secret, ts, body))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", redactURL(p.url), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("post %s: %s%s", redactURL(p.url), resp.Status, quoteSnippet(snippet))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return err
}

func (p *poster) close() { p.client.CloseIdleConnections() }

// redactURL drops the query (it may carry a token) from errors and logs.
func redactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}

// quoteSnippet shows the start of a response body in an error.
func quoteSnippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if len(b) > 200 {
		b = b[:200]
	}
	if !utf8.Valid(b) {
		return ""
	}
	return fmt.Sprintf(" (%q)", b)
}

// webhook POSTs the farmwatch.alert/v1 document, signed.
type webhook struct {
	name string
	p    *poster
	log  *zap.Logger
}

var _ Sink = (*webhook)(nil)

func newWebhook(name, url string, secret []byte, timeout time.Duration, log *zap.Logger) *webhook {
	return &webhook{name: name, p: newPoster(url, secret, timeout), log: log}
}

func (w *webhook) Name() string { return w.name }

func (w *webhook) Deliver(ctx context.Context, ev Event) error {
	body, err := encodeJSON(ev)
	if err != nil {
		return fmt.Errorf("%w: encode alert %d: %w", ErrPermanent, ev.Alert.ID, err)
	}
	h := http.Header{}
	h.Set(HeaderEvent, ev.Event)
	h.Set(HeaderAlertID, strconv.FormatInt(ev.Alert.ID, 10))
	return w.p.post(ctx, body, "application/json", h)
}

func (w *webhook) Close() error {
	w.p.close()
	return nil
}

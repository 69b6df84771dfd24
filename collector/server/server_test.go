package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

func TestEnrollDeliverDedupe(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-0001", "alice@corp.example")
	ctx := context.Background()

	dev, err := c.store.GetDevice(ctx, a.state.Key.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	if dev.Owner != "alice@corp.example" || dev.Hostname != "LT-0001" || dev.Revoked {
		t.Fatalf("device %+v", dev)
	}
	if got := a.state.Enrollment.NotAfter.Sub(a.state.Enrollment.NotBefore); got < 29*24*time.Hour || got > 31*24*time.Hour {
		t.Errorf("certificate lifetime %v, want about 30 days", got)
	}
	for i := 0; i < 5; i++ {
		a.submit(t, transport.NetworkContext{})
	}
	if n := a.flush(t); n != 5 {
		t.Fatalf("delivered %d, want 5", n)
	}
	if got := len(c.reports(dev.ID)); got != 5 {
		t.Fatalf("stored %d reports, want 5", got)
	}
	if st := a.queue.Stats(); st.Depth != 0 {
		t.Errorf("queue depth %d after delivery", st.Depth)
	}
	dev, _ = c.store.GetDevice(ctx, dev.ID)
	if dev.LastSeq != 5 || dev.PublicIP != "127.0.0.1" || dev.AgentVersion != "test" {
		t.Errorf("device after reports: seq %d ip %q version %q", dev.LastSeq, dev.PublicIP, dev.AgentVersion)
	}

	// Replaying the stored envelopes: each is a duplicate, nothing stored.
	var envs []json.RawMessage
	for _, r := range c.reports(dev.ID) {
		envs = append(envs, r.Envelope)
	}
	resp, err := a.client.Send(ctx, envs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		if r.Status != transport.StatusDuplicate {
			t.Errorf("replayed seq %d: %s", r.Seq, r.Status)
		}
	}
	if got := len(c.reports(dev.ID)); got != 5 {
		t.Errorf("after replay %d reports stored", got)
	}
	if resp.PolicyVersion != c.srv.Policy().Version {
		t.Errorf("announced policy %q, serving %q", resp.PolicyVersion, c.srv.Policy().Version)
	}
}

func TestEnrollmentTokens(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	ctx := context.Background()
	enroll := func(tok string) error {
		_, err := transport.Enroll(ctx, transport.EnrollOptions{Server: c.ts.URL, Token: tok, CAPEM: c.caPEM, StateDir: t.TempDir(), Hostname: "h"})
		return err
	}
	once := c.token(1, time.Hour, "")
	if err := enroll(once); err != nil {
		t.Fatal(err)
	}
	if err := enroll(once); !isStatus(err, 403, "bad_token") {
		t.Errorf("second use of a one-use token: %v", err)
	}
	if err := enroll(c.token(5, -time.Minute, "")); !isStatus(err, 403, "bad_token") {
		t.Errorf("expired token: %v", err)
	}
	revoked := c.token(5, time.Hour, "")
	id := strings.Split(strings.TrimPrefix(revoked, "fwe_"), "_")[0]
	if err := c.store.RevokeToken(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := enroll(revoked); !isStatus(err, 403, "bad_token") {
		t.Errorf("revoked token: %v", err)
	}
	if err := enroll("fwe_nonsense_token"); !isStatus(err, 403, "bad_token") {
		t.Errorf("unknown token: %v", err)
	}
	// Without the CA pinned the collector's private CA is not trusted.
	_, err := transport.Enroll(ctx, transport.EnrollOptions{Server: c.ts.URL, Token: c.token(1, time.Hour, ""), StateDir: t.TempDir()})
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Errorf("enrollment without --ca against a private CA: %v", err)
	}
}

func isStatus(err error, status int, reason string) bool {
	var he *transport.HTTPError
	return errors.As(err, &he) && he.Status == status && he.Reason == reason
}

// rawClient posts to the agent port with a chosen TLS configuration.
func rawClient(c *testCollector, tc *tls.Config) *http.Client {
	if tc.RootCAs == nil {
		tc.RootCAs = c.srv.ca.Pool()
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

func post(hc *http.Client, url string, body []byte) (int, transport.ErrorResponse, error) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, transport.ErrorResponse{}, err
	}
	defer resp.Body.Close()
	var er transport.ErrorResponse
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &er)
	return resp.StatusCode, er, nil
}

func TestAgentPortRefusals(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	body := []byte(`{"envelopes":[]}`)
	url := c.ts.URL + transport.PathReports

	// No client certificate: TLS completes (enrollment needs that), the
	// request is refused.
	code, er, err := post(rawClient(c, &tls.Config{MinVersion: tls.VersionTLS13}), url, body)
	if err != nil || code != 401 || er.Reason != "no_client_cert" {
		t.Errorf("no client cert: %d %+v %v", code, er, err)
	}

	// A certificate from another CA: the handshake fails.
	other, _, err := pki.NewCA("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// (GetClientCertificate makes the client present it even though the
	// server asks for certificates of its own CA.)
	foreign := deviceCert(t, other, a.state.Key, time.Now(), 24*time.Hour)
	if code, _, err := post(rawClient(c, presenting(foreign)), url, body); err == nil {
		t.Errorf("a certificate from another CA was accepted (%d)", code)
	}

	// An expired certificate from the right CA: the handshake fails.
	expired := deviceCert(t, c.srv.ca, a.state.Key, time.Now().Add(-48*time.Hour), time.Hour)
	if code, _, err := post(rawClient(c, presenting(expired)), url, body); err == nil {
		t.Errorf("an expired certificate was accepted (%d)", code)
	}

	// TLS 1.2 is refused.
	if _, _, err := post(rawClient(c, &tls.Config{MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{a.state.Cert}}), url, body); err == nil {
		t.Error("TLS 1.2 was accepted")
	}

	// The device's own certificate works; malformed and oversized bodies
	// are refused with a reason.
	good := rawClient(c, &tls.Config{Certificates: []tls.Certificate{a.state.Cert}})
	for _, tc := range []struct {
		body   []byte
		status int
		reason string
	}{
		{[]byte(`{"envelopes":[]}`), 400, "empty_batch"},
		{[]byte(`not json`), 400, "malformed"},
		{[]byte(`{"envelopes":[{}],"extra":1}`), 400, "malformed"},
		{bytes.Repeat([]byte("x"), int(c.cfg.Ingest.MaxBodyBytes)+1), 413, "too_large"},
	} {
		code, er, err := post(good, url, tc.body)
		if err != nil || code != tc.status || er.Reason != tc.reason {
			t.Errorf("body %.20q: %d %+v %v, want %d %s", tc.body, code, er, err, tc.status, tc.reason)
		}
	}

	// A revoked device is refused, and cannot renew.
	if err := c.store.RevokeDevice(context.Background(), a.state.Key.DeviceID(), "lost", time.Now()); err != nil {
		t.Fatal(err)
	}
	a.submit(t, transport.NetworkContext{})
	_, err = a.sender.Flush(context.Background())
	if !errors.Is(err, transport.ErrPermanent) || !isStatus(err, 403, "revoked") {
		t.Errorf("revoked device delivering: %v", err)
	}
	if err := a.client.Renew(context.Background()); !isStatus(err, 403, "revoked") {
		t.Errorf("revoked device renewing: %v", err)
	}
	if got := len(c.reports(a.state.Key.DeviceID())); got != 0 {
		t.Errorf("%d reports stored from a revoked device", got)
	}
	if st := a.queue.Stats(); st.Depth != 1 {
		t.Errorf("the refused report left the queue (depth %d)", st.Depth)
	}
}

// presenting is a client TLS configuration that always presents cert.
func presenting(cert tls.Certificate) *tls.Config {
	return &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// deviceCert issues a client certificate for key from ca, valid from
// notBefore for validity.
func deviceCert(t *testing.T, ca *pki.CA, key transport.DeviceKey, notBefore time.Time, validity time.Duration) tls.Certificate {
	t.Helper()
	csr, err := transport.NewCSR(key)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := ca.IssueDevice(csr, notBefore.Add(5*time.Minute), validity)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.ParseCertificatePEM(dc.PEM)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

func TestEnvelopeRejections(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	b := c.enroll("LT-2", "")
	ctx := context.Background()
	sign := func(k transport.DeviceKey, r *transport.Report) json.RawMessage {
		body, _ := json.Marshal(r)
		env, err := transport.SignPayload(ctx, k, transport.ReportPayloadType, body)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(env)
		return raw
	}
	report := func(dev string, seq uint64) *transport.Report {
		return &transport.Report{Schema: transport.ReportSchema, Kind: transport.KindHeartbeat, DeviceID: dev, Seq: seq, BootID: "b", SentAt: time.Now().UTC()}
	}
	aid, bid := a.state.Key.DeviceID(), b.state.Key.DeviceID()
	badSchema := report(aid, 3)
	badSchema.Schema = "farmwatch.report/v0"
	tampered := sign(a.state.Key, report(aid, 4))
	tampered = bytes.Replace(tampered, []byte(`"payload":"`), []byte(`"payload":"A`), 1)
	wrongType, _ := json.Marshal(mustSign(t, a.state.Key, "application/vnd.in-toto+json", report(aid, 5)))

	resp, err := a.client.Send(ctx, []json.RawMessage{
		sign(a.state.Key, report(aid, 1)),    // good
		sign(b.state.Key, report(aid, 2)),    // signed by another device's key
		sign(a.state.Key, badSchema),         // schema
		tampered,                             // payload changed after signing
		wrongType,                            // payload type
		sign(a.state.Key, report(bid, 6)),    // a report claiming another device
		json.RawMessage(`{"payloadType":1}`), // not an envelope
		sign(a.state.Key, report(aid, 1)),    // replayed sequence number
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status transport.ResultStatus
		reason string
	}{
		{transport.StatusStored, ""},
		{transport.StatusRejected, "bad_signature"},
		{transport.StatusRejected, "schema"},
		{transport.StatusRejected, "bad_signature"},
		{transport.StatusRejected, "payload_type"},
		{transport.StatusRejected, "device_mismatch"},
		{transport.StatusRejected, "malformed"},
		{transport.StatusDuplicate, ""},
	}
	for i, w := range want {
		got := resp.Results[i]
		if got.Index != i || got.Status != w.status || !strings.HasPrefix(got.Reason, w.reason) {
			t.Errorf("envelope %d: %+v, want %s %s", i, got, w.status, w.reason)
		}
	}
	if n := len(c.reports(aid)); n != 1 {
		t.Errorf("%d reports stored for a, want 1", n)
	}
	if n := len(c.reports(bid)); n != 0 {
		t.Errorf("%d reports stored for b, want 0", n)
	}
	for reason, min := range map[string]float64{"bad_signature": 2, "schema": 1, "payload_type": 1, "device_mismatch": 1, "malformed": 1, "duplicate_seq": 1} {
		if got := testutil.ToFloat64(c.srv.metrics.Rejections.WithLabelValues(reason)); got < min {
			t.Errorf("rejections{%s} = %v, want ≥ %v", reason, got, min)
		}
	}
}

func mustSign(t *testing.T, k transport.DeviceKey, typ string, r *transport.Report) *transport.Envelope {
	t.Helper()
	body, _ := json.Marshal(r)
	env, err := transport.SignPayload(context.Background(), k, typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestRenewal(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(cfg *Config) { cfg.DeviceCertValidity = Duration(3 * time.Hour) })
	a := c.enroll("LT-1", "")
	before := a.state.Enrollment
	if a.client.NeedsRenewal(time.Now()) {
		t.Fatal("a fresh certificate needs renewal")
	}
	life := before.NotAfter.Sub(before.NotBefore)
	if a.client.NeedsRenewal(before.NotBefore.Add(life*2/3 - time.Second)) {
		t.Error("renewal due before two thirds of the lifetime")
	}
	if !a.client.NeedsRenewal(before.NotBefore.Add(life * 2 / 3)) {
		t.Error("no renewal due at two thirds of the lifetime")
	}
	time.Sleep(1100 * time.Millisecond) // a new NotBefore second
	if err := a.client.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := transport.LoadState(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Enrollment.NotAfter.After(before.NotAfter) || st.Enrollment.EnrolledAt != before.EnrolledAt || st.Enrollment.RenewedAt.IsZero() {
		t.Errorf("after renewal %+v, before %+v", st.Enrollment, before)
	}
	a.submit(t, transport.NetworkContext{})
	if n := a.flush(t); n != 1 {
		t.Errorf("delivered %d with the renewed certificate", n)
	}
	dev, _ := c.store.GetDevice(context.Background(), st.Key.DeviceID())
	if !dev.CertNotAfter.Equal(st.Enrollment.NotAfter) {
		t.Errorf("device cert not after %v, agent has %v", dev.CertNotAfter, st.Enrollment.NotAfter)
	}
}

func TestPolicyServedAndCached(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	doc, err := a.client.FetchPolicy(context.Background(), "")
	if err != nil || doc == nil {
		t.Fatalf("FetchPolicy = %v, %v", doc, err)
	}
	if doc.Version != c.srv.Policy().Version || doc.Policy.ScanInterval != "1h" {
		t.Errorf("policy %+v", doc)
	}
	again, err := a.client.FetchPolicy(context.Background(), doc.Version)
	if err != nil || again != nil {
		t.Errorf("same version fetched again: %v, %v", again, err)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	c := newCollector(t, func(cfg *Config) { cfg.Ingest.RatePerDevice, cfg.Ingest.Burst = 0.01, 2 })
	a := c.enroll("LT-1", "")
	var limited *transport.HTTPError
	for i := 0; i < 3; i++ {
		a.submit(t, transport.NetworkContext{})
		items, _ := a.queue.Peek(1, 1<<20)
		_, err := a.client.Send(context.Background(), []json.RawMessage{items[0].Data})
		if err == nil {
			a.queue.Ack(items[0].ID)
			continue
		}
		if !errors.As(err, &limited) {
			t.Fatal(err)
		}
	}
	if limited == nil || limited.Status != 429 || limited.RetryAfter < time.Second || !limited.Temporary() {
		t.Errorf("third batch within the burst: %+v", limited)
	}
}

func TestFarmFoundAcrossDevices(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	ctx := context.Background()
	owners := []string{"alice@corp.example", "bob@corp.example", "carol@corp.example", "dave@corp.example"}
	gw := transport.HashIdentifier([]byte("fleet-key-0123456789"), "gateway", "aa:bb:cc:00:00:01")
	var ids []string
	for i, o := range owners {
		a := c.enroll("LT-"+o[:1], o)
		a.submit(t, transport.NetworkContext{GatewayHash: gw})
		a.flush(t)
		ids = append(ids, a.state.Key.DeviceID())
		if i == 2 {
			run, err := c.srv.Correlate(ctx)
			if err != nil || !run.Ran {
				t.Fatalf("correlate: %+v %v", run, err)
			}
		}
	}
	run, err := c.srv.Correlate(ctx)
	if err != nil || !run.Ran || run.Devices != 4 {
		t.Fatalf("correlate: %+v %v", run, err)
	}
	alerts, _, err := c.store.ListAlerts(ctx, store.AlertFilter{Kind: "farm"}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d farm alerts, want one that grew", len(alerts))
	}
	f := alerts[0]
	if len(f.Members) != 4 || f.Severity < int(detectors.SeverityHigh) || f.Status != store.AlertNew {
		t.Errorf("farm alert %+v", f)
	}
	for _, id := range ids {
		if !strings.Contains(strings.Join(f.Members, ","), id) {
			t.Errorf("member %s missing", id)
		}
	}
	var ev map[string]any
	if err := json.Unmarshal(f.Evidence, &ev); err != nil || !strings.Contains(string(f.Evidence), gw) || !strings.Contains(string(f.Evidence), "127.0.0.1") {
		t.Errorf("evidence lacks the shared identifiers: %s", f.Evidence)
	}
}

func TestFindingAlerts(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "alice@corp.example")
	ctx := context.Background()
	f := detectors.Finding{ID: "abc", Detector: "remoteaccess", Rule: "remoteaccess.unattended_access", Severity: detectors.SeverityHigh,
		Confidence: 0.9, Title: "AnyDesk set up for unattended access", Summary: "s", ObservedAt: time.Now().UTC().Truncate(time.Second)}
	low := f
	low.ID, low.Severity, low.Rule = "def", detectors.SeverityLow, "remoteaccess.installed"
	for i := 0; i < 2; i++ {
		if _, err := a.outbox.Submit(ctx, &transport.Report{Kind: transport.KindScan, Findings: []detectors.Finding{f, low}}); err != nil {
			t.Fatal(err)
		}
	}
	a.flush(t)
	alerts, _, err := c.store.ListAlerts(ctx, store.AlertFilter{Kind: "finding"}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Count != 2 || !strings.Contains(alerts[0].Title, "LT-1") || alerts[0].Severity != int(detectors.SeverityHigh) {
		t.Fatalf("finding alerts %+v", alerts)
	}
}

func TestCollectorDownThenBack(t *testing.T) {
	t.Parallel()
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	c.ts.Close() // the collector goes away
	for i := 0; i < 20; i++ {
		a.submit(t, transport.NetworkContext{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := a.sender.Flush(ctx)
	cancel()
	if err == nil {
		t.Fatal("delivered with the collector down")
	}
	if st := a.queue.Stats(); st.Depth != 20 {
		t.Fatalf("queue depth %d while down, want 20", st.Depth)
	}
	// Back on a new address (same CA): the agent follows its enrollment.
	back := startCollector(t, c.dir, c.cfg, c.store)
	a2 := repoint(t, a, back.ts.URL)
	if n := a2.flush(t); n != 20 {
		t.Fatalf("delivered %d after recovery, want 20", n)
	}
	seen := map[uint64]int{}
	for _, r := range c.reports(a.state.Key.DeviceID()) {
		seen[r.Seq]++
	}
	if len(seen) != 20 {
		t.Errorf("%d distinct reports stored, want 20", len(seen))
	}
	for s, n := range seen {
		if n != 1 {
			t.Errorf("seq %d stored %d times", s, n)
		}
	}
}

// repoint rewrites an agent's enrollment to a new server URL (a test
// collector restarted on another port) and reopens it.
func repoint(t *testing.T, a *testAgent, url string) *testAgent {
	t.Helper()
	a.queue.Close()
	e := a.state.Enrollment
	e.Server = url
	data, _ := json.Marshal(e)
	if err := transport.WriteFileAtomic(a.dir+"/"+transport.EnrollmentFileName, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return openAgent(t, a.dir)
}

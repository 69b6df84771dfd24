package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/pki"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/transport"
)

// AgentHandler is the agent port's HTTP handler.
func (s *Server) AgentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+transport.PathEnroll, s.handleEnroll)
	mux.HandleFunc("POST "+transport.PathRenew, s.device(s.handleRenew))
	mux.HandleFunc("POST "+transport.PathReports, s.device(s.handleReports))
	mux.HandleFunc("GET "+transport.PathPolicy, s.device(s.handlePolicy))
	return mux
}

// fail writes an ErrorResponse and counts the rejection.
func (s *Server) fail(w http.ResponseWriter, status int, reason, msg string) {
	s.metrics.reject(reason)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "30")
	}
	writeJSON(w, status, transport.ErrorResponse{Error: msg, Reason: reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readBody reads at most limit bytes; larger bodies are refused whole.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	return data, err == nil
}

type deviceHandler func(w http.ResponseWriter, r *http.Request, dev store.Device)

// device authenticates the client certificate: issued by the collector
// CA (checked by TLS), for a known, unrevoked device whose registered key
// is the certificate's key.
func (s *Server) device(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			s.fail(w, http.StatusUnauthorized, "no_client_cert", "a client certificate is required (enroll the device first)")
			return
		}
		cert := r.TLS.PeerCertificates[0]
		dev, err := s.store.GetDevice(r.Context(), cert.Subject.CommonName)
		if errors.Is(err, store.ErrNotFound) {
			s.fail(w, http.StatusForbidden, "unknown_device", "this device is not enrolled with this collector")
			return
		}
		if err != nil {
			s.log.Error("device lookup", zap.Error(err))
			s.fail(w, http.StatusServiceUnavailable, "storage", "the collector cannot reach its database")
			return
		}
		if dev.Revoked {
			s.fail(w, http.StatusForbidden, "revoked", "this device was revoked: "+dev.RevokeReason)
			return
		}
		spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
		if err != nil || !bytes.Equal(spki, dev.PublicKey) {
			s.fail(w, http.StatusForbidden, "key_mismatch", "the certificate's key is not the device's registered key")
			return
		}
		h(w, r, dev)
	}
}

func (s *Server) handleReports(w http.ResponseWriter, r *http.Request, dev store.Device) {
	if ok, wait := s.limits.allow(dev.ID, s.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.metrics.reject("rate_limited")
		writeJSON(w, http.StatusTooManyRequests, transport.ErrorResponse{Error: "too many reports from this device; retry later", Reason: "rate_limited"})
		return
	}
	body, ok := readBody(w, r, s.cfg.Ingest.MaxBodyBytes)
	if !ok {
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the batch exceeds %d bytes", s.cfg.Ingest.MaxBodyBytes))
		return
	}
	start := time.Now()
	resp, err := s.ingest.Ingest(r.Context(), dev, s.publicIP(r), body)
	s.metrics.IngestTime.Observe(time.Since(start).Seconds())
	if r.Context().Err() != nil {
		// The agent went away mid-request; whatever was not stored is
		// resent by its queue.
		s.log.Info("agent disconnected during ingest", zap.String("device_id", dev.ID), zap.Error(err))
		return
	}
	var re *RequestError
	if errors.As(err, &re) {
		if re.Status >= 500 {
			s.log.Error("ingest failed", zap.String("device_id", dev.ID), zap.Error(err))
		}
		s.fail(w, re.Status, re.Reason, re.Error())
		return
	}
	if err != nil {
		s.log.Error("ingest failed", zap.String("device_id", dev.ID), zap.Error(err))
		s.fail(w, http.StatusServiceUnavailable, "internal", "the collector could not store the batch")
		return
	}
	resp.PolicyVersion = s.policy.Version
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handlePolicy(w http.ResponseWriter, r *http.Request, _ store.Device) {
	etag := strconv.Quote(s.policy.Version)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, s.policy)
}

// publicIP is the address the request came from; behind a trusted proxy,
// the right-most X-Forwarded-For address that is not a trusted proxy.
func (s *Server) publicIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		addr = a
	}
	return addr.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxEnrollBody bounds enrollment requests.
const maxEnrollBody = 64 << 10

func (s *Server) decodeEnroll(w http.ResponseWriter, r *http.Request) (*transport.EnrollRequest, bool) {
	body, ok := readBody(w, r, maxEnrollBody)
	if !ok {
		s.fail(w, http.StatusRequestEntityTooLarge, "too_large", "enrollment request too large")
		return nil, false
	}
	var req transport.EnrollRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(w, http.StatusBadRequest, "malformed", "enrollment request: "+err.Error())
		return nil, false
	}
	return &req, true
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	ip := s.publicIP(r)
	if ok, _ := s.enrollRL.allow("ip:"+ip, s.now()); !ok {
		s.metrics.Enrollments.WithLabelValues("enroll", "rate_limited").Inc()
		s.fail(w, http.StatusTooManyRequests, "rate_limited", "too many enrollment attempts from this address")
		return
	}
	now := s.now()
	// Check the CSR before consuming a use of the token.
	req, dc, ok := s.issue(w, r, "enroll", now)
	if !ok {
		return
	}
	tok, err := s.store.UseToken(r.Context(), auth.HashSecret(req.Token), now)
	if err != nil {
		s.metrics.Enrollments.WithLabelValues("enroll", "bad_token").Inc()
		if errors.Is(err, store.ErrTokenInvalid) {
			s.log.Warn("enrollment refused", zap.String("remote", ip), zap.String("hostname", req.Hostname), zap.Error(err))
			s.fail(w, http.StatusForbidden, "bad_token", err.Error())
			return
		}
		s.log.Error("enrollment: token lookup", zap.Error(err))
		s.fail(w, http.StatusServiceUnavailable, "storage", "the collector cannot reach its database")
		return
	}
	owner := tok.Owner
	if owner == "" {
		owner = s.rosterOwner(r.Context(), dc.DeviceID, req.Hostname)
	}
	dev := store.Device{
		ID: dc.DeviceID, PublicKey: dc.PublicKey, CertSerial: dc.Serial, CertNotAfter: dc.NotAfter,
		TokenID: tok.ID, Owner: owner, Hostname: clip(req.Hostname, 255), OS: clip(req.OS, 32), Arch: clip(req.Arch, 32),
		EnrolledAt: now, AgentVersion: clip(req.AgentVersion, 64), MaxSeverity: -1,
	}
	if err := s.store.EnrollDevice(r.Context(), dev); err != nil {
		s.metrics.Enrollments.WithLabelValues("enroll", "refused").Inc()
		if errors.Is(err, store.ErrConflict) {
			s.fail(w, http.StatusForbidden, "revoked", "this device was revoked and cannot enroll again")
			return
		}
		s.log.Error("enrollment: store device", zap.Error(err))
		s.fail(w, http.StatusServiceUnavailable, "storage", "the collector cannot reach its database")
		return
	}
	if err := s.store.AddAudit(r.Context(), store.AuditEntry{At: now, Actor: "token:" + tok.ID, Action: "device.enroll", Target: "device:" + dc.DeviceID, Detail: fmt.Sprintf("hostname=%s owner=%s from=%s", dev.Hostname, owner, ip)}); err != nil {
		s.log.Error("audit entry not written", zap.String("action", "device.enroll"), zap.String("device_id", dc.DeviceID), zap.Error(err))
	}
	s.metrics.Enrollments.WithLabelValues("enroll", "ok").Inc()
	s.log.Info("device enrolled", zap.String("device_id", dc.DeviceID), zap.String("hostname", dev.Hostname), zap.String("owner", owner), zap.String("token", tok.ID))
	writeJSON(w, http.StatusOK, s.enrollResponse(dc))
}

// issue decodes an enrollment or renewal request and issues the device
// certificate for its CSR; on failure it has answered the request.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, kind string, now time.Time) (*transport.EnrollRequest, *pki.DeviceCert, bool) {
	req, ok := s.decodeEnroll(w, r)
	if !ok {
		return nil, nil, false
	}
	dc, err := s.ca.IssueDevice([]byte(req.CSR), now, time.Duration(s.cfg.DeviceCertValidity))
	if err != nil {
		s.metrics.Enrollments.WithLabelValues(kind, "bad_csr").Inc()
		s.fail(w, http.StatusBadRequest, "bad_csr", err.Error())
		return nil, nil, false
	}
	return req, dc, true
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request, dev store.Device) {
	now := s.now()
	_, dc, ok := s.issue(w, r, "renew", now)
	if !ok {
		return
	}
	if dc.DeviceID != dev.ID {
		s.metrics.Enrollments.WithLabelValues("renew", "key_mismatch").Inc()
		s.fail(w, http.StatusForbidden, "key_mismatch", "renewal must keep the device key")
		return
	}
	if err := s.store.UpdateCertificate(r.Context(), dev.ID, dc.Serial, dc.NotAfter); err != nil {
		s.log.Error("renewal: store", zap.Error(err))
		s.fail(w, http.StatusServiceUnavailable, "storage", "the collector cannot reach its database")
		return
	}
	s.metrics.Enrollments.WithLabelValues("renew", "ok").Inc()
	s.log.Info("device certificate renewed", zap.String("device_id", dev.ID), zap.Time("not_after", dc.NotAfter))
	writeJSON(w, http.StatusOK, s.enrollResponse(dc))
}

func (s *Server) enrollResponse(dc *pki.DeviceCert) transport.EnrollResponse {
	return transport.EnrollResponse{DeviceID: dc.DeviceID, Certificate: string(dc.PEM), CA: string(s.ca.PEM), FleetKey: s.fleetKey, NotAfter: dc.NotAfter}
}

// rosterOwner finds the owner whose roster entry lists the device id or
// its hostname (case-insensitive); "" when none does. The roster is
// indexed in memory and re-read at most once a minute, so a mass
// enrollment does not read the whole roster per device.
func (s *Server) rosterOwner(ctx context.Context, id, hostname string) string {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if !s.refreshRoster(ctx) {
		return ""
	}
	return s.roster.byName.Owner(id, hostname)
}

// rosterHome returns the roster entry (registered home) of an owner,
// from the same cached index.
func (s *Server) rosterHome(ctx context.Context, owner string) (store.RosterEntry, bool) {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if !s.refreshRoster(ctx) {
		return store.RosterEntry{}, false
	}
	e, ok := s.roster.homes[owner]
	return e, ok
}

// refreshRoster re-reads the roster when the index is older than
// rosterTTL; false when there is no index to use. Call with mu held.
func (s *Server) refreshRoster(ctx context.Context) bool {
	if s.roster.byName == nil || s.now().Sub(s.roster.at) > rosterTTL {
		entries, err := s.store.ListRoster(ctx)
		if err != nil {
			s.log.Warn("roster lookup", zap.Error(err))
			return s.roster.byName != nil
		}
		s.roster.byName = NewOwnerIndex(entries)
		s.roster.homes = make(map[string]store.RosterEntry, len(entries))
		for _, e := range entries {
			s.roster.homes[e.Owner] = e
		}
		s.roster.at = s.now()
	}
	return true
}

// rosterTTL bounds how stale the in-memory roster index may be.
const rosterTTL = time.Minute

// rosterIndex is the server's cached OwnerIndex.
type rosterIndex struct {
	mu     sync.Mutex
	byName OwnerIndex
	// homes are the roster entries by owner.
	homes map[string]store.RosterEntry
	at    time.Time
}

// OwnerIndex maps device ids and hostnames (lower case) to the owners
// whose roster entries list them.
type OwnerIndex map[string]string

// NewOwnerIndex indexes a roster; when two entries list one name, the
// first wins.
func NewOwnerIndex(entries []store.RosterEntry) OwnerIndex {
	x := OwnerIndex{}
	for _, e := range entries {
		for _, d := range e.Devices {
			if _, dup := x[strings.ToLower(d)]; !dup {
				x[strings.ToLower(d)] = e.Owner
			}
		}
	}
	return x
}

// Owner returns the owner listing the device id, else its hostname; "".
func (x OwnerIndex) Owner(id, hostname string) string {
	if o, ok := x[strings.ToLower(id)]; ok {
		return o
	}
	if hostname == "" {
		return ""
	}
	return x[strings.ToLower(hostname)]
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/sink"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/transport"
)

// MaxBatch bounds the envelopes of one request.
const MaxBatch = 500

// Ingester verifies and stores the report batches of enrolled devices.
// It is the whole ingest path below HTTP, so benchmarks and fuzzing
// exercise exactly what the server runs.
type Ingester struct {
	Store   store.Store
	Metrics *Metrics
	Log     *zap.Logger
	// FindingMin: findings at or above it raise a "finding" alert.
	FindingMin detectors.Severity
	Sinks      []sink.Config
	// Notify is called after an alert enqueued sink deliveries.
	Notify func()
	// NetworkChanged is called when a device reports for the first time
	// or from another public IP or network identity, so correlation can
	// run soon instead of at its next interval.
	NetworkChanged func()
	Now            func() time.Time
	// Geo, when not nil, judges every report's location (collector/geo):
	// its findings are stored with the report, the device's geo history
	// is updated in the report's transaction, and alerts follow.
	Geo *geoJudge
}

// RequestError is a refusal of a whole request.
type RequestError struct {
	Status int
	Reason string
	Err    error
}

func (e *RequestError) Error() string { return e.Err.Error() }

func badRequest(reason string, format string, a ...any) *RequestError {
	return &RequestError{Status: 400, Reason: reason, Err: fmt.Errorf(format, a...)}
}

// Ingest handles one batch body from dev, seen at publicIP. Envelopes are
// judged one by one: a bad one is rejected with its reason and does not
// spoil the others. The error is non-nil only when the whole request is
// refused (malformed batch) or storage failed (the agent retries).
func (in *Ingester) Ingest(ctx context.Context, dev store.Device, publicIP string, body []byte) (*transport.BatchResponse, error) {
	var batch struct {
		Envelopes []json.RawMessage `json:"envelopes"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil {
		return nil, badRequest("malformed", "batch is not JSON {\"envelopes\":[…]}: %v", err)
	}
	if dec.More() {
		return nil, badRequest("malformed", "trailing data after the batch")
	}
	if len(batch.Envelopes) == 0 {
		return nil, badRequest("empty_batch", "the batch holds no envelope")
	}
	if len(batch.Envelopes) > MaxBatch {
		return nil, badRequest("batch_too_large", "%d envelopes in one batch (at most %d)", len(batch.Envelopes), MaxBatch)
	}
	pub, err := devicePublicKey(dev)
	if err != nil {
		return nil, &RequestError{Status: 500, Reason: "internal", Err: err}
	}
	resp := &transport.BatchResponse{Results: make([]transport.EnvelopeResult, len(batch.Envelopes))}
	for i, raw := range batch.Envelopes {
		res, err := in.one(ctx, dev, pub, publicIP, raw)
		if err != nil {
			return nil, err
		}
		res.Index = i
		resp.Results[i] = res
		in.Metrics.Reports.WithLabelValues(string(res.Status)).Inc()
		if res.Status == transport.StatusRejected {
			in.Log.Warn("report rejected", zap.String("device_id", dev.ID), zap.Uint64("seq", res.Seq), zap.String("reason", res.Reason))
		}
	}
	return resp, nil
}

func devicePublicKey(dev store.Device) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(dev.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("device %s: stored key: %w", dev.ID, err)
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("device %s: stored key is %T", dev.ID, k)
	}
	return pub, nil
}

// one judges and stores one envelope.
func (in *Ingester) one(ctx context.Context, dev store.Device, pub *ecdsa.PublicKey, publicIP string, raw json.RawMessage) (transport.EnvelopeResult, error) {
	reject := func(reason, msg string) (transport.EnvelopeResult, error) {
		in.Metrics.reject(reason)
		return transport.EnvelopeResult{Status: transport.StatusRejected, Reason: reason + ": " + msg}, nil
	}
	var env transport.Envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return reject("malformed", "not a DSSE envelope: "+err.Error())
	}
	payload, err := transport.VerifyEnvelope(ctx, &env, pub, dev.ID)
	switch {
	case errors.Is(err, transport.ErrPayloadType):
		return reject("payload_type", err.Error())
	case err != nil:
		return reject("bad_signature", err.Error())
	}
	r, err := transport.DecodeReport(payload)
	if err != nil {
		return reject("schema", err.Error())
	}
	if r.DeviceID != dev.ID {
		return reject("device_mismatch", fmt.Sprintf("report of %s sent by %s", r.DeviceID, dev.ID))
	}
	sr, err := storedReport(r, raw, publicIP, in.Now())
	if err != nil {
		return reject("schema", err.Error())
	}
	var gj *geoJudgement
	if in.Geo != nil {
		if gj, err = in.judgeGeo(ctx, dev, publicIP, r, sr.ReceivedAt); err != nil {
			return transport.EnvelopeResult{}, &RequestError{Status: 503, Reason: "storage", Err: fmt.Errorf("geo history of %s: %w", dev.ID, err)}
		}
		gf, err := geoFindings(r, gj.verdict)
		if err != nil {
			return reject("schema", err.Error())
		}
		sr.Findings, sr.Geo = append(sr.Findings, gf...), gj.update
	}
	dup, err := in.Store.StoreReport(ctx, sr)
	if err != nil {
		return transport.EnvelopeResult{}, &RequestError{Status: 503, Reason: "storage", Err: fmt.Errorf("store report %s/%d: %w", dev.ID, r.Seq, err)}
	}
	if dup {
		in.Metrics.reject("duplicate_seq")
		return transport.EnvelopeResult{Seq: r.Seq, Status: transport.StatusDuplicate}, nil
	}
	if in.NetworkChanged != nil && (dev.LastSeen.IsZero() || dev.PublicIP != publicIP || !sameNetwork(dev.Network, sr.Network)) {
		in.NetworkChanged()
	}
	if err := in.findingAlerts(ctx, dev, r); err != nil {
		// The report is stored; the alert is re-derived from the next
		// report with the same finding. Log loudly.
		in.Log.Error("finding alert not raised", zap.String("device_id", dev.ID), zap.Uint64("seq", r.Seq), zap.Error(err))
	}
	if gj != nil {
		if err := in.geoAlerts(ctx, dev, r, gj); err != nil {
			in.Log.Error("geo alert not raised or resolved", zap.String("device_id", dev.ID), zap.Uint64("seq", r.Seq), zap.Error(err))
		}
	}
	return transport.EnvelopeResult{Seq: r.Seq, Status: transport.StatusStored}, nil
}

func storedReport(r *transport.Report, raw []byte, publicIP string, now time.Time) (store.StoredReport, error) {
	sr := store.StoredReport{
		DeviceID: r.DeviceID, Seq: r.Seq, Kind: string(r.Kind), BootID: r.BootID,
		SentAt: r.SentAt, ReceivedAt: now, PublicIP: publicIP,
		Envelope: append([]byte(nil), raw...), MaxSeverity: int(r.MaxSeverity()),
		AgentVersion: r.AgentVersion, PolicyVersion: r.PolicyVersion,
		Network: storeNetwork(r.Context.Network),
	}
	if r.Kind == transport.KindScan {
		h, err := json.Marshal(r.Context.Detectors)
		if err != nil {
			return sr, err
		}
		sr.Health = h
	}
	for _, f := range r.Findings {
		fj, err := json.Marshal(f)
		if err != nil {
			return sr, err
		}
		sr.Findings = append(sr.Findings, store.StoredFinding{
			DeviceID: r.DeviceID, Seq: r.Seq, FindingID: f.ID, Detector: f.Detector, Rule: f.Rule,
			Severity: int(f.Severity), Confidence: f.Confidence, Title: f.Title, Summary: f.Summary,
			JSON: fj, ObservedAt: f.ObservedAt,
		})
	}
	return sr, nil
}

func storeNetwork(n transport.NetworkContext) store.Network {
	out := store.Network{GatewayHash: n.GatewayHash, BSSIDHashes: n.BSSIDHashes, SSIDHash: n.SSIDHash, KVMSerials: n.KVMSerials, Beacons: n.Beacons}
	for _, p := range n.Peers {
		out.Peers = append(out.Peers, store.PeerHeard{DeviceID: p.DeviceID, Via: p.Via, At: p.At})
	}
	return out
}

// sameNetwork compares the identifiers correlation joins on.
func sameNetwork(a, b store.Network) bool {
	return a.GatewayHash == b.GatewayHash && slices.Equal(a.BSSIDHashes, b.BSSIDHashes) &&
		slices.Equal(a.KVMSerials, b.KVMSerials) && len(a.Peers) == len(b.Peers)
}

// findingAlerts raises one alert per finding at or above FindingMin.
// The key is the device and the finding id, so the same condition seen
// again aggregates into the open alert.
func (in *Ingester) findingAlerts(ctx context.Context, dev store.Device, r *transport.Report) error {
	var errs []error
	for _, f := range r.Findings {
		if f.Severity < in.FindingMin {
			continue
		}
		ev, err := json.Marshal(map[string]any{"finding": f, "device_id": dev.ID, "hostname": dev.Hostname, "owner": dev.Owner, "report_seq": r.Seq})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		host := dev.Hostname
		if host == "" {
			host = dev.ID
		}
		now := in.Now()
		a := store.Alert{
			Key: "finding:" + dev.ID + ":" + f.ID, Kind: "finding", Severity: int(f.Severity),
			Title: host + ": " + f.Title, Summary: f.Summary, Members: []string{dev.ID},
			Evidence: ev, FirstSeen: now, LastSeen: now,
		}
		if err := in.raise(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// raise upserts an alert with the sinks that want its severity.
func (in *Ingester) raise(ctx context.Context, a store.Alert) error {
	var sinks []string
	for _, s := range in.Sinks {
		if sink.Wants(s, a.Severity) {
			sinks = append(sinks, s.Name)
		}
	}
	_, ch, err := in.Store.UpsertAlert(ctx, a, sinks)
	if err != nil {
		return fmt.Errorf("alert %s: %w", a.Key, err)
	}
	change := "updated"
	switch {
	case ch.Created:
		change = "created"
	case len(ch.NewMembers) > 0:
		change = "members_joined"
	case ch.SeverityRaised:
		change = "severity_raised"
	}
	in.Metrics.Alerts.WithLabelValues(a.Kind, detectors.Severity(a.Severity).String(), change).Inc()
	if ch.Notified && in.Notify != nil {
		in.Notify()
	}
	return nil
}

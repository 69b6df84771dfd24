package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Contract names (DESIGN.md "Report on the wire").
const (
	// ReportSchema is the schema of a report payload.
	ReportSchema = "farmwatch.report/v1"
	// ReportPayloadType is the DSSE payloadType of a report envelope.
	ReportPayloadType = "application/vnd.farmwatch.report.v1+json"
)

// HTTP paths of the collector's agent listener.
const (
	PathEnroll  = "/v1/enroll"
	PathRenew   = "/v1/renew"
	PathReports = "/v1/reports"
	PathPolicy  = "/v1/policy"
)

// ReportKind says why a report was sent.
type ReportKind string

// Report kinds.
const (
	// KindScan carries the findings of a check cycle (possibly none).
	KindScan ReportKind = "scan"
	// KindHeartbeat says the agent is alive when nothing else was sent.
	KindHeartbeat ReportKind = "heartbeat"
	// KindStopping says the service is being stopped on purpose, so the
	// collector can tell a stop from a disappearance.
	KindStopping ReportKind = "stopping"
)

func (k ReportKind) valid() bool {
	return k == KindScan || k == KindHeartbeat || k == KindStopping
}

// Report is the signed payload an agent sends: farmwatch.report/v1.
type Report struct {
	Schema   string     `json:"schema"`
	Kind     ReportKind `json:"kind"`
	DeviceID string     `json:"device_id"`
	// Seq increases by one per report of the device, across restarts; the
	// collector dedupes on (device_id, seq).
	Seq uint64 `json:"seq"`
	// BootID changes when the agent process starts.
	BootID       string `json:"boot_id"`
	AgentVersion string `json:"agent_version"`
	// PolicyVersion is the fleet policy the agent ran with ("" if none).
	PolicyVersion string `json:"policy_version,omitempty"`
	// SentAt is when the report was made (and signed), not delivered.
	SentAt   time.Time           `json:"sent_at"`
	Findings []detectors.Finding `json:"findings"`
	Context  ReportContext       `json:"context"`
}

// ReportContext describes the device when the report was made.
type ReportContext struct {
	Host      HostContext      `json:"host"`
	Network   NetworkContext   `json:"network"`
	Detectors []DetectorHealth `json:"detectors,omitempty"`
	Queue     QueueContext     `json:"queue"`
	// Geo holds the device's location signals (geodrift detector).
	Geo *detectors.GeoSignals `json:"geo,omitempty"`
	// Events are notable agent events since the last report (watchdog
	// limits exceeded, policy refused, queue recovered).
	Events []AgentEvent `json:"events,omitempty"`
}

// HostContext identifies the machine.
type HostContext struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Hostname string `json:"hostname"`
	// User is the console user, when known.
	User string `json:"user,omitempty"`
}

// NetworkContext holds network identifiers as keyed hashes (HMAC-SHA256
// with the fleet key, see HashIdentifier); raw values stay on the laptop.
type NetworkContext struct {
	GatewayHash string   `json:"gateway_hash,omitempty"`
	BSSIDHashes []string `json:"bssid_hashes,omitempty"`
	SSIDHash    string   `json:"ssid_hash,omitempty"`
	// Peers are other enrolled devices heard on this LAN.
	Peers []PeerHeard `json:"peers,omitempty"`
	// KVMSerials are hashes of serial numbers of KVM-like USB devices
	// and EDIDs seen on the device, for fleet-wide comparison.
	KVMSerials []string `json:"kvm_serials,omitempty"`
	// Beacons counts the LAN peer beacon's traffic (accepted, rejected by
	// reason) since the agent started.
	Beacons *detectors.BeaconStats `json:"beacons,omitempty"`
}

// PeerHeard is one peer beacon heard.
type PeerHeard struct {
	DeviceID string    `json:"device_id"`
	Via      string    `json:"via"`
	At       time.Time `json:"at"`
}

// DetectorHealth is the last run of one detector.
type DetectorHealth struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// RanAt is when the detector last observed (the agent checks each
	// detector on its own schedule; a report carries every detector's
	// latest results).
	RanAt time.Time `json:"ran_at,omitzero"`
}

// QueueContext carries the outbound queue's state, including cumulative
// drop counts by severity (info … critical).
type QueueContext struct {
	Depth int       `json:"depth"`
	Drops [5]uint64 `json:"drops"`
}

// AgentEvent is a notable event of the agent itself.
type AgentEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// MaxReportBytes bounds one report payload; the collector refuses larger.
const MaxReportBytes = 1 << 20

// Validate checks a report against the contract.
func (r *Report) Validate() error {
	var errs []error
	if r.Schema != ReportSchema {
		errs = append(errs, fmt.Errorf("schema %q, want %q", r.Schema, ReportSchema))
	}
	if !r.Kind.valid() {
		errs = append(errs, fmt.Errorf("kind %q is not scan, heartbeat or stopping", r.Kind))
	}
	if !ValidDeviceID(r.DeviceID) {
		errs = append(errs, fmt.Errorf("device_id %q is not a device id", r.DeviceID))
	}
	if r.Seq == 0 {
		errs = append(errs, errors.New("seq must be at least 1"))
	}
	if r.BootID == "" {
		errs = append(errs, errors.New("boot_id is empty"))
	}
	if r.SentAt.IsZero() {
		errs = append(errs, errors.New("sent_at is missing"))
	}
	if len(r.Findings) > 10000 {
		errs = append(errs, fmt.Errorf("%d findings (at most 10000)", len(r.Findings)))
	}
	for i := range r.Findings {
		if err := r.Findings[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("findings[%d]: %w", i, err))
		}
	}
	for _, h := range append([]string{r.Context.Network.GatewayHash, r.Context.Network.SSIDHash}, append(r.Context.Network.BSSIDHashes, r.Context.Network.KVMSerials...)...) {
		if h != "" && !validHash(h) {
			errs = append(errs, fmt.Errorf("network identifier %q is not a keyed hash", h))
		}
	}
	for _, p := range r.Context.Network.Peers {
		if !ValidDeviceID(p.DeviceID) {
			errs = append(errs, fmt.Errorf("peer %q is not a device id", p.DeviceID))
		}
	}
	return errors.Join(errs...)
}

// MaxSeverity is the highest severity among the report's findings, and
// info when there is none.
func (r *Report) MaxSeverity() detectors.Severity {
	max := detectors.SeverityInfo
	for _, f := range r.Findings {
		if f.Severity > max {
			max = f.Severity
		}
	}
	return max
}

// DecodeReport parses and validates a report payload; unknown fields are
// refused so a typo cannot pass as evidence.
func DecodeReport(payload []byte) (*Report, error) {
	if len(payload) > MaxReportBytes {
		return nil, fmt.Errorf("report: %d bytes (at most %d)", len(payload), MaxReportBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if dec.More() {
		return nil, errors.New("report: trailing data after the JSON object")
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &r, nil
}

// EnrollRequest is the body of POST /v1/enroll (token-authenticated) and
// POST /v1/renew (mTLS; Token empty).
type EnrollRequest struct {
	Token string `json:"token,omitempty"`
	// CSR is a PEM certificate request signed by the device key.
	CSR          string `json:"csr"`
	Hostname     string `json:"hostname"`
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	AgentVersion string `json:"agent_version"`
}

// EnrollResponse is the answer to an enrollment or renewal.
type EnrollResponse struct {
	DeviceID string `json:"device_id"`
	// Certificate is the PEM client certificate.
	Certificate string `json:"certificate"`
	// CA is the PEM collector CA, to pin.
	CA string `json:"ca"`
	// FleetKey is the base64 key for LAN beacons and identifier hashes.
	FleetKey string    `json:"fleet_key"`
	NotAfter time.Time `json:"not_after"`
}

// Batch is the body of POST /v1/reports.
type Batch struct {
	Envelopes []Envelope `json:"envelopes"`
}

// ResultStatus is the collector's verdict on one envelope.
type ResultStatus string

// Verdicts. Stored and duplicate are both "delivered" for the agent.
const (
	StatusStored    ResultStatus = "stored"
	StatusDuplicate ResultStatus = "duplicate"
	StatusRejected  ResultStatus = "rejected"
)

// EnvelopeResult is the verdict on the envelope at Index of the batch.
type EnvelopeResult struct {
	Index  int          `json:"index"`
	Seq    uint64       `json:"seq,omitempty"`
	Status ResultStatus `json:"status"`
	Reason string       `json:"reason,omitempty"`
}

// BatchResponse answers POST /v1/reports.
type BatchResponse struct {
	Results []EnvelopeResult `json:"results"`
	// PolicyVersion is the fleet policy currently served; an agent running
	// another version fetches it.
	PolicyVersion string `json:"policy_version"`
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// Reason is a stable machine-readable code (e.g. "revoked",
	// "bad_signature", "rate_limited").
	Reason string `json:"reason"`
}

// validHash reports whether s looks like a keyed hash from HashIdentifier.
func validHash(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

package api

import (
	"encoding/json"
	"time"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
)

// The JSON views of the API. They are what the API returns and what the
// collector CLI prints with --json: change them only compatibly (add
// fields). Times are UTC, RFC 3339; a time that is not set is null.
// Severities are the contract names (info, low, medium, high, critical).

// Device is an enrolled device and its last known state.
type Device struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	// PublicKey is the DER SubjectPublicKeyInfo of the device key, base64:
	// what verifies the device's report envelopes.
	PublicKey    []byte     `json:"public_key"`
	Hostname     string     `json:"hostname"`
	OS           string     `json:"os"`
	Arch         string     `json:"arch"`
	EnrolledAt   *time.Time `json:"enrolled_at"`
	TokenID      string     `json:"token_id"`
	CertSerial   string     `json:"cert_serial"`
	CertNotAfter *time.Time `json:"cert_not_after"`
	// LastSeen is null before the first report.
	LastSeen      *time.Time    `json:"last_seen"`
	LastSeq       uint64        `json:"last_seq"`
	LastKind      string        `json:"last_kind"`
	AgentVersion  string        `json:"agent_version"`
	PolicyVersion string        `json:"policy_version"`
	PublicIP      string        `json:"public_ip"`
	Network       store.Network `json:"network"`
	// Health is the detectors' health of the last scan report as the agent
	// sent it (a JSON array), null before any.
	Health       json.RawMessage `json:"health"`
	Revoked      bool            `json:"revoked"`
	RevokedAt    *time.Time      `json:"revoked_at"`
	RevokeReason string          `json:"revoke_reason"`
	// MaxSeverity is the highest finding severity of the last scan report,
	// null before any.
	MaxSeverity *string `json:"max_severity"`
}

// DeviceView is the API view of d.
func DeviceView(d store.Device) Device {
	v := Device{
		ID:            d.ID,
		Owner:         d.Owner,
		PublicKey:     d.PublicKey,
		Hostname:      d.Hostname,
		OS:            d.OS,
		Arch:          d.Arch,
		EnrolledAt:    timePtr(d.EnrolledAt),
		TokenID:       d.TokenID,
		CertSerial:    d.CertSerial,
		CertNotAfter:  timePtr(d.CertNotAfter),
		LastSeen:      timePtr(d.LastSeen),
		LastSeq:       d.LastSeq,
		LastKind:      d.LastKind,
		AgentVersion:  d.AgentVersion,
		PolicyVersion: d.PolicyVersion,
		PublicIP:      d.PublicIP,
		Network:       d.Network,
		Health:        rawJSON(d.Health),
		Revoked:       d.Revoked,
		RevokedAt:     timePtr(d.RevokedAt),
		RevokeReason:  d.RevokeReason,
	}
	if d.MaxSeverity >= 0 {
		s := SeverityName(d.MaxSeverity)
		v.MaxSeverity = &s
	}
	return v
}

// Report is one stored report: its metadata and the DSSE envelope exactly
// as the device signed it, so its evidence can be verified again later
// with the device's public key.
type Report struct {
	DeviceID    string     `json:"device_id"`
	Seq         uint64     `json:"seq"`
	Kind        string     `json:"kind"`
	BootID      string     `json:"boot_id"`
	SentAt      *time.Time `json:"sent_at"`
	ReceivedAt  *time.Time `json:"received_at"`
	PublicIP    string     `json:"public_ip"`
	MaxSeverity string     `json:"max_severity"`
	// Findings is how many findings the report carried (GET /findings
	// lists them).
	Findings      int             `json:"findings"`
	AgentVersion  string          `json:"agent_version"`
	PolicyVersion string          `json:"policy_version"`
	Envelope      json.RawMessage `json:"envelope"`
}

// ReportView is the API view of r.
func ReportView(r store.StoredReport) Report {
	return Report{
		DeviceID:      r.DeviceID,
		Seq:           r.Seq,
		Kind:          r.Kind,
		BootID:        r.BootID,
		SentAt:        timePtr(r.SentAt),
		ReceivedAt:    timePtr(r.ReceivedAt),
		PublicIP:      r.PublicIP,
		MaxSeverity:   SeverityName(r.MaxSeverity),
		Findings:      len(r.Findings),
		AgentVersion:  r.AgentVersion,
		PolicyVersion: r.PolicyVersion,
		Envelope:      rawJSON(r.Envelope),
	}
}

// Finding is one finding of a stored report.
type Finding struct {
	DeviceID   string     `json:"device_id"`
	Seq        uint64     `json:"seq"`
	ID         string     `json:"id"`
	Detector   string     `json:"detector"`
	Rule       string     `json:"rule"`
	Severity   string     `json:"severity"`
	Confidence float64    `json:"confidence"`
	Title      string     `json:"title"`
	Summary    string     `json:"summary"`
	ObservedAt *time.Time `json:"observed_at"`
	// Finding is the finding exactly as it was in the signed payload
	// (with its evidence and MITRE ids).
	Finding json.RawMessage `json:"finding"`
}

// FindingView is the API view of f.
func FindingView(f store.StoredFinding) Finding {
	return Finding{
		DeviceID:   f.DeviceID,
		Seq:        f.Seq,
		ID:         f.FindingID,
		Detector:   f.Detector,
		Rule:       f.Rule,
		Severity:   SeverityName(f.Severity),
		Confidence: f.Confidence,
		Title:      f.Title,
		Summary:    f.Summary,
		ObservedAt: timePtr(f.ObservedAt),
		Finding:    rawJSON(f.JSON),
	}
}

// Alert is one SOC alert.
type Alert struct {
	ID       int64  `json:"id"`
	Key      string `json:"key"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	// Status is new, acknowledged, resolved or suppressed.
	Status  string `json:"status"`
	Title   string `json:"title"`
	Summary string `json:"summary"`
	// Members are the ids of the devices involved.
	Members  []string        `json:"members"`
	Evidence json.RawMessage `json:"evidence"`
	// Count is how many detections were merged into the alert.
	Count        int        `json:"count"`
	FirstSeen    *time.Time `json:"first_seen"`
	LastSeen     *time.Time `json:"last_seen"`
	UpdatedAt    *time.Time `json:"updated_at"`
	StatusReason string     `json:"status_reason"`
	// SuppressedUntil is set while the alert is suppressed.
	SuppressedUntil *time.Time `json:"suppressed_until"`
}

// AlertView is the API view of a.
func AlertView(a store.Alert) Alert {
	members := a.Members
	if members == nil {
		members = []string{}
	}
	return Alert{
		ID:              a.ID,
		Key:             a.Key,
		Kind:            a.Kind,
		Severity:        SeverityName(a.Severity),
		Status:          string(a.Status),
		Title:           a.Title,
		Summary:         a.Summary,
		Members:         members,
		Evidence:        rawJSON(a.Evidence),
		Count:           a.Count,
		FirstSeen:       timePtr(a.FirstSeen),
		LastSeen:        timePtr(a.LastSeen),
		UpdatedAt:       timePtr(a.UpdatedAt),
		StatusReason:    a.StatusReason,
		SuppressedUntil: timePtr(a.SuppressedTill),
	}
}

// EnrollToken is an enrollment token, without its secret.
type EnrollToken struct {
	ID        string     `json:"id"`
	CreatedAt *time.Time `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	MaxUses   int        `json:"max_uses"`
	Uses      int        `json:"uses"`
	Revoked   bool       `json:"revoked"`
	CreatedBy string     `json:"created_by"`
	// Owner, when set, becomes the owner of devices enrolled with it.
	Owner string `json:"owner"`
	Note  string `json:"note"`
}

// EnrollTokenView is the API view of t; the secret's hash is left out.
func EnrollTokenView(t store.EnrollToken) EnrollToken {
	return EnrollToken{
		ID:        t.ID,
		CreatedAt: timePtr(t.CreatedAt),
		ExpiresAt: timePtr(t.ExpiresAt),
		MaxUses:   t.MaxUses,
		Uses:      t.Uses,
		Revoked:   t.Revoked,
		CreatedBy: t.CreatedBy,
		Owner:     t.Owner,
		Note:      t.Note,
	}
}

// NewEnrollToken is the answer to creating an enrollment token: the only
// time its secret is shown.
type NewEnrollToken struct {
	EnrollToken
	Token string `json:"token"`
}

// User is a console/API user, without the password hash.
type User struct {
	Name               string     `json:"name"`
	Role               string     `json:"role"`
	CreatedAt          *time.Time `json:"created_at"`
	MustChangePassword bool       `json:"must_change_password"`
}

// UserView is the API view of u; the password hash is left out.
func UserView(u store.User) User {
	return User{
		Name:               u.Name,
		Role:               string(u.Role),
		CreatedAt:          timePtr(u.CreatedAt),
		MustChangePassword: u.MustChangePassword,
	}
}

// NewUser is the answer to creating a user: the only time its one-time
// password is shown. The user must change it before anything else.
type NewUser struct {
	User
	Password string `json:"password"`
}

// APIToken is a user's API token, without its secret.
type APIToken struct {
	ID        string     `json:"id"`
	User      string     `json:"user"`
	CreatedAt *time.Time `json:"created_at"`
	Revoked   bool       `json:"revoked"`
	Note      string     `json:"note"`
}

// APITokenView is the API view of t; the secret's hash is left out.
func APITokenView(t store.APIToken) APIToken {
	return APIToken{
		ID:        t.ID,
		User:      t.User,
		CreatedAt: timePtr(t.CreatedAt),
		Revoked:   t.Revoked,
		Note:      t.Note,
	}
}

// NewAPIToken is the answer to creating an API token: the only time its
// secret is shown.
type NewAPIToken struct {
	APIToken
	Token string `json:"token"`
}

// RosterEntry is an owner with a registered home.
type RosterEntry struct {
	Owner       string  `json:"owner"`
	DisplayName string  `json:"display_name"`
	City        string  `json:"city"`
	Country     string  `json:"country"`
	Latitude    float64 `json:"latitude"`
	Longitude   float64 `json:"longitude"`
	TimeZone    string  `json:"time_zone"`
	// Devices are hostnames or device ids assigned to the owner.
	Devices []string `json:"devices"`
}

// RosterEntryView is the API view of e.
func RosterEntryView(e store.RosterEntry) RosterEntry {
	devices := e.Devices
	if devices == nil {
		devices = []string{}
	}
	return RosterEntry{
		Owner:       e.Owner,
		DisplayName: e.DisplayName,
		City:        e.City,
		Country:     e.Country,
		Latitude:    e.Latitude,
		Longitude:   e.Longitude,
		TimeZone:    e.TimeZone,
		Devices:     devices,
	}
}

// AuditEntry records who did what, when.
type AuditEntry struct {
	ID     int64      `json:"id"`
	At     *time.Time `json:"at"`
	Actor  string     `json:"actor"`
	Action string     `json:"action"`
	Target string     `json:"target"`
	Detail string     `json:"detail"`
}

// AuditEntryView is the API view of e.
func AuditEntryView(e store.AuditEntry) AuditEntry {
	return AuditEntry{
		ID:     e.ID,
		At:     timePtr(e.At),
		Actor:  e.Actor,
		Action: e.Action,
		Target: e.Target,
		Detail: e.Detail,
	}
}

// Me is the caller: its user and how it authenticated.
type Me struct {
	User
	// Auth is "token" or "password".
	Auth string `json:"auth"`
	// TokenID is the API token used, when Auth is "token".
	TokenID   string `json:"token_id,omitempty"`
	Collector string `json:"collector"`
}

// Page is one page of a listing; Next is the cursor of the following page
// (pass it as ?after=), "" on the last page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// SeverityName is the contract name of a stored severity (0 info …
// 4 critical).
func SeverityName(n int) string { return detectors.Severity(n).String() }

// timePtr is t in UTC, or nil when t is not set.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// rawJSON passes stored JSON through; nothing or something that is not
// JSON becomes null rather than breaking the whole answer.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return json.RawMessage(b)
}

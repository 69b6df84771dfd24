// Package store is the collector's storage: one Store interface with two
// implementations, SQLite (embedded, pure Go, the default) and PostgreSQL
// (pgx v5, for several collector nodes on one database). Both pass the
// same conformance suite (storetest). Migrations are versioned and applied
// at Open; an unknown newer schema is refused.
//
// Everything that must not be half-done is one transaction: a report with
// its findings and the device update; an alert with its sink deliveries;
// a roster import. Nothing in the store depends on the node that wrote
// it, so nodes share one PostgreSQL freely; periodic jobs take TryLock.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Errors the collector tells apart.
var (
	ErrNotFound = errors.New("not found")
	// ErrTokenInvalid wraps the reason an enrollment token was refused.
	ErrTokenInvalid = errors.New("enrollment token refused")
	ErrConflict     = errors.New("already exists")
)

// Store is the collector's persistence. Times are stored in UTC with
// microsecond precision. List calls page with Page and return the cursor
// of the next page ("" at the end).
type Store interface {
	// Enrollment tokens. Only the SHA-256 of a token's secret is stored.
	CreateToken(ctx context.Context, t EnrollToken) error
	ListTokens(ctx context.Context) ([]EnrollToken, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// UseToken atomically checks and consumes one use of the token whose
	// secret hashes to secretHash: it fails with an error wrapping
	// ErrTokenInvalid (unknown, expired, revoked or used up) and consumes
	// nothing then. Two concurrent uses of a one-use token: one wins.
	UseToken(ctx context.Context, secretHash []byte, now time.Time) (EnrollToken, error)

	// Devices.
	// EnrollDevice inserts the device or, when its id exists (the same
	// key enrolling again), updates its certificate, token, hostname, OS,
	// arch, agent version and owner. A revoked device cannot re-enroll:
	// ErrConflict.
	EnrollDevice(ctx context.Context, d Device) error
	GetDevice(ctx context.Context, id string) (Device, error)
	ListDevices(ctx context.Context, f DeviceFilter, p Page) ([]Device, string, error)
	// AllDevices returns every device, for fleet correlation.
	AllDevices(ctx context.Context) ([]Device, error)
	RevokeDevice(ctx context.Context, id, reason string, at time.Time) error
	UpdateCertificate(ctx context.Context, id, serial string, notAfter time.Time) error
	// SetOwner assigns the device's owner (from the roster or the token).
	SetOwner(ctx context.Context, id, owner string) error

	// StoreReport stores one verified report atomically: the envelope
	// verbatim, its findings, and the device's last-seen state (LastSeen,
	// LastSeq when higher, PublicIP, AgentVersion, PolicyVersion, Network,
	// Health, LastKind). It reports duplicate=true, changing nothing, when
	// (device_id, seq) is already stored.
	StoreReport(ctx context.Context, r StoredReport) (duplicate bool, err error)
	ListReports(ctx context.Context, deviceID string, p Page) ([]StoredReport, string, error)
	ListFindings(ctx context.Context, f FindingFilter, p Page) ([]StoredFinding, string, error)
	// GeoState returns the device's geolocation history (GeoState), kept
	// by StoreReport from each report's Geo; ErrNotFound before the
	// first such report.
	GeoState(ctx context.Context, deviceID string) (GeoState, error)

	// Alerts.
	// UpsertAlert merges a by Key into the open alert (status new,
	// acknowledged or suppressed) with that key, or creates a new one.
	// Merging unions members, keeps the highest severity, replaces
	// title, summary and evidence, adds 1 to Count and moves LastSeen.
	// When the alert is created, gains members or rises in severity, and
	// is not suppressed (or its suppression expired), one delivery per
	// sink is enqueued in the same transaction.
	UpsertAlert(ctx context.Context, a Alert, sinks []string) (Alert, AlertChange, error)
	GetAlert(ctx context.Context, id int64) (Alert, error)
	ListAlerts(ctx context.Context, f AlertFilter, p Page) ([]Alert, string, error)
	// SetAlertStatus moves an alert through its lifecycle and writes the
	// audit entry in the same transaction. Allowed: new→acknowledged,
	// new|acknowledged→resolved, any open→suppressed (with reason and
	// until), suppressed→new (unsuppress). Others: an error.
	SetAlertStatus(ctx context.Context, id int64, to AlertStatus, reason string, until time.Time, audit AuditEntry) (Alert, error)

	// Sink deliveries (the outbox): claimed with a lease, so a crashed
	// node's claims come back after the lease.
	ClaimDeliveries(ctx context.Context, sink string, max int, now time.Time, lease time.Duration) ([]Delivery, error)
	CompleteDelivery(ctx context.Context, id int64) error
	RetryDelivery(ctx context.Context, id int64, next time.Time, lastErr string) error
	// PendingDeliveries counts deliveries not yet done, per sink.
	PendingDeliveries(ctx context.Context) (map[string]int, error)

	// Audit.
	AddAudit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, p Page) ([]AuditEntry, string, error)

	// Console/API users and their API tokens (only hashes stored).
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, name string) (User, error)
	// SetUserPassword replaces a user's password hash (and whether it is
	// a one-time password).
	SetUserPassword(ctx context.Context, name string, hash []byte, mustChange bool) error
	ListUsers(ctx context.Context) ([]User, error)
	CreateAPIToken(ctx context.Context, t APIToken) error
	// LookupAPIToken finds an unrevoked token by the hash of its secret.
	LookupAPIToken(ctx context.Context, secretHash []byte) (APIToken, error)
	// GetAPIToken finds a token by id (revoked or not).
	GetAPIToken(ctx context.Context, id string) (APIToken, error)
	RevokeAPIToken(ctx context.Context, id string) error

	// Roster: owners and their registered homes.
	// ImportRoster upserts all entries in one transaction (all or none).
	ImportRoster(ctx context.Context, entries []RosterEntry) error
	GetRosterEntry(ctx context.Context, owner string) (RosterEntry, error)
	ListRoster(ctx context.Context) ([]RosterEntry, error)

	// TryLock takes a cluster-wide lock for a periodic job (PostgreSQL
	// advisory lock; an in-process lock for SQLite). ok is false when
	// another holder has it. release must be called when ok.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)

	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Page selects one page of a listing: at most Limit items (default 100,
// at most 1000) after the cursor After returned by the previous page.
type Page struct {
	Limit int
	After string
}

// EnrollToken authorises enrollments.
type EnrollToken struct {
	ID         string
	SecretHash []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	MaxUses    int
	Uses       int
	Revoked    bool
	CreatedBy  string
	// Owner, when set, becomes the owner of devices enrolled with it.
	Owner string
	Note  string
}

// Device is an enrolled device and its last known state.
type Device struct {
	ID string
	// PublicKey is the DER SubjectPublicKeyInfo of the device key.
	PublicKey    []byte
	CertSerial   string
	CertNotAfter time.Time
	TokenID      string
	Owner        string
	Hostname     string
	OS           string
	Arch         string
	EnrolledAt   time.Time
	Revoked      bool
	RevokedAt    time.Time
	RevokeReason string

	// Last known state from reports (zero before the first report).
	LastSeen      time.Time
	LastSeq       uint64
	LastKind      string
	AgentVersion  string
	PolicyVersion string
	PublicIP      string
	Network       Network
	// Health is the JSON array of transport.DetectorHealth of the last
	// scan report, stored as is.
	Health []byte
	// MaxSeverity is the highest finding severity (0..4) of the last scan
	// report, -1 before any.
	MaxSeverity int
}

// Network is the device's hashed network identity.
type Network struct {
	GatewayHash string      `json:"gateway_hash,omitempty"`
	BSSIDHashes []string    `json:"bssid_hashes,omitempty"`
	SSIDHash    string      `json:"ssid_hash,omitempty"`
	Peers       []PeerHeard `json:"peers,omitempty"`
	KVMSerials  []string    `json:"kvm_serials,omitempty"`
	// Beacons counts the device's LAN peer beacon traffic (accepted,
	// rejected by reason) as of the report.
	Beacons *detectors.BeaconStats `json:"beacons,omitempty"`
}

// PeerHeard is one peer device heard on the LAN.
type PeerHeard struct {
	DeviceID string    `json:"device_id"`
	Via      string    `json:"via"`
	At       time.Time `json:"at"`
}

// DeviceFilter narrows ListDevices.
type DeviceFilter struct {
	Owner   string
	Revoked *bool
	// SilentSince lists devices last seen before this time.
	SilentSince time.Time
}

// StoredReport is one verified report.
type StoredReport struct {
	DeviceID   string
	Seq        uint64
	Kind       string
	BootID     string
	SentAt     time.Time
	ReceivedAt time.Time
	PublicIP   string
	// Envelope is the DSSE envelope exactly as received.
	Envelope []byte
	// MaxSeverity of the findings, 0 (info) when none.
	MaxSeverity int
	Findings    []StoredFinding
	// Device state carried by the report (applied to the device record).
	AgentVersion  string
	PolicyVersion string
	Network       Network
	Health        []byte
	// Geo, when not nil, is applied to the device's geolocation history
	// in the same transaction (see GeoUpdate).
	Geo *GeoUpdate
}

// StoredFinding is one finding of a stored report.
type StoredFinding struct {
	DeviceID   string
	Seq        uint64
	FindingID  string
	Detector   string
	Rule       string
	Severity   int
	Confidence float64
	Title      string
	Summary    string
	// JSON is the finding as it was in the payload.
	JSON       []byte
	ObservedAt time.Time
}

// FindingFilter narrows ListFindings.
type FindingFilter struct {
	DeviceID    string
	MinSeverity int
	Since       time.Time
}

// AlertStatus is an alert's place in its lifecycle.
type AlertStatus string

// Alert statuses.
const (
	AlertNew          AlertStatus = "new"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
	AlertSuppressed   AlertStatus = "suppressed"
)

// Alert is one SOC alert, aggregated by Key.
type Alert struct {
	ID int64
	// Key identifies what the alert is about (e.g. "farm:public_ip:…");
	// repeated detections of it aggregate into one open alert.
	Key      string
	Kind     string
	Severity int
	Status   AlertStatus
	Title    string
	Summary  string
	// Members are the device ids involved.
	Members []string
	// Evidence is a JSON object explaining the alert.
	Evidence       []byte
	FirstSeen      time.Time
	LastSeen       time.Time
	Count          int
	StatusReason   string
	SuppressedTill time.Time
	UpdatedAt      time.Time
}

// AlertChange says what an UpsertAlert did.
type AlertChange struct {
	Created        bool
	NewMembers     []string
	SeverityRaised bool
	// Notified is true when sink deliveries were enqueued.
	Notified bool
}

// AlertFilter narrows ListAlerts.
type AlertFilter struct {
	Status      []AlertStatus
	Kind        string
	MinSeverity int
	DeviceID    string
}

// Delivery is one alert to deliver to one sink.
type Delivery struct {
	ID      int64
	Sink    string
	AlertID int64
	// Event is "created" or "updated".
	Event     string
	Attempts  int
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
}

// AuditEntry records who did what, when.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Target string
	Detail string
}

// Role is a console/API user's role.
type Role string

// Roles, least privileged first.
const (
	RoleViewer  Role = "viewer"
	RoleAnalyst Role = "analyst"
	RoleAdmin   Role = "admin"
)

// User is a console/API user.
type User struct {
	Name         string
	Role         Role
	PasswordHash []byte
	CreatedAt    time.Time
	// MustChangePassword is set for one-time passwords.
	MustChangePassword bool
}

// APIToken is a user's API token.
type APIToken struct {
	ID         string
	User       string
	SecretHash []byte
	CreatedAt  time.Time
	Revoked    bool
	Note       string
}

// RosterEntry is an owner with a registered home.
type RosterEntry struct {
	Owner       string
	DisplayName string
	City        string
	Country     string
	Latitude    float64
	Longitude   float64
	TimeZone    string
	// Devices are hostnames or device ids assigned to the owner.
	Devices []string
}

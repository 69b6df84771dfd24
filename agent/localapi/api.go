package localapi

import (
	"errors"
	"time"

	"github.com/farmwatch/farmwatch/detectors"
)

// Paths of the API (version 1). Every answer is JSON.
const (
	PathStatus     = "/v1/status"     // GET: Status
	PathScan       = "/v1/scan"       // GET: LastScan
	PathConnection = "/v1/connection" // GET: Connection
	PathQueue      = "/v1/queue"      // GET: Queue
	PathCollected  = "/v1/collected"  // GET: Collected
	PathCheck      = "/v1/check"      // POST, administrators only: 202 CheckAccepted
)

// Errors of the client. They are matched with errors.Is.
var (
	// ErrNotRunning: nothing listens at the endpoint (the service is
	// stopped or not installed).
	ErrNotRunning = errors.New("the farmwatch service is not running")
	// ErrForbidden: the caller is not an administrator.
	ErrForbidden = errors.New("only an administrator may do this")
)

// Levels of Status, most severe last. The tray shows ok green, attention
// amber, alert and error red.
const (
	LevelOK        = "ok"
	LevelAttention = "attention"
	LevelAlert     = "alert"
	LevelError     = "error"
)

// Status is the answer of PathStatus: a plain-language summary for the
// person using the laptop, and the facts behind it.
type Status struct {
	// Level: "ok" | "attention" | "alert" | "error" (tray: green / amber /
	// red / red).
	Level    string   `json:"level"`
	Headline string   `json:"headline"` // one plain sentence
	Lines    []string `json:"lines"`    // the plain-language lines `farmwatch status` prints
	// CanCheckNow says whether this caller may call CheckNow.
	CanCheckNow bool `json:"can_check_now"`

	// Running is true in every answer of the service; `farmwatch status
	// --json` prints false when the service is not running.
	Running      bool      `json:"running"`
	AgentVersion string    `json:"agent_version,omitempty"`
	Enrolled     bool      `json:"enrolled"`
	DeviceID     string    `json:"device_id,omitempty"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	// LastCheck is when the last check finished (zero: none yet);
	// LastCheckError is its error, "" when it succeeded.
	LastCheck      time.Time `json:"last_check,omitzero"`
	LastCheckError string    `json:"last_check_error,omitempty"`
	// NextCheck is when the scheduler plans the next check, when known.
	NextCheck time.Time `json:"next_check,omitzero"`
	// Findings counts the last check's findings by severity name; Highest
	// is the highest severity, "" when there is none.
	Findings   map[string]int `json:"findings"`
	Highest    string         `json:"highest_severity,omitempty"`
	Connection Connection     `json:"connection"`
	Queue      Queue          `json:"queue"`
	// GeneratedAt is the service's clock when it answered.
	GeneratedAt time.Time `json:"generated_at"`
}

// Connection states.
const (
	ConnConnected   = "connected"    // the last delivery attempt succeeded
	ConnUnreachable = "unreachable"  // the last attempt failed (network, collector down)
	ConnRefused     = "refused"      // the collector refuses this device (revoked, unknown)
	ConnNotYet      = "not_yet"      // nothing was sent since the service started
	ConnNotEnrolled = "not_enrolled" // no enrollment: nothing can be sent
)

// Connection is the answer of PathConnection: the link to the collector.
type Connection struct {
	State  string `json:"state"`
	Server string `json:"server,omitempty"`
	// LastDelivery is the last successful delivery, LastAttempt the last
	// attempt, LastError its error ("" when it succeeded).
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
}

// Queue is the answer of PathQueue: reports waiting to be delivered.
type Queue struct {
	Depth int   `json:"depth"` // reports waiting
	Bytes int64 `json:"bytes"`
	// Dropped counts reports dropped for room since the queue was created
	// (low severities first; high and critical never).
	Dropped uint64 `json:"dropped"`
	// Recovered and SkippedBytes describe damage repaired at start:
	// records salvaged from damaged files, damaged bytes skipped.
	Recovered    uint64 `json:"recovered"`
	SkippedBytes uint64 `json:"skipped_bytes"`
}

// LastScan is the answer of PathScan: the last check's findings in plain
// words and the health of each detector.
type LastScan struct {
	At        time.Time     `json:"at,omitzero"`
	Error     string        `json:"error,omitempty"`
	Findings  []Finding     `json:"findings"`
	Detectors []DetectorRun `json:"detectors"`
}

// Finding is one finding told to the device owner.
type Finding struct {
	Severity   string  `json:"severity"`
	Detector   string  `json:"detector"`
	Rule       string  `json:"rule"`
	Confidence float64 `json:"confidence"`
	Title      string  `json:"title"`
	What       string  `json:"what"` // what was seen
	Why        string  `json:"why"`  // why it matters
	ToDo       string  `json:"todo"` // what to do
}

// DetectorRun is one detector's health in the last check.
type DetectorRun struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"` // ok, error, timeout, panic, unsupported, no_data
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// Collected is the answer of PathCollected: what farmwatch looks at, why,
// and what leaves the laptop.
type Collected struct {
	Detectors []CollectedDetector `json:"detectors"`
	Privacy   []string            `json:"privacy"`
}

// CollectedDetector is one detector told to the device owner.
type CollectedDetector struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	Looks   string `json:"looks_at"` // what it reads on this laptop
	Why     string `json:"why"`
}

// CheckAccepted is the answer of PathCheck.
type CheckAccepted struct {
	Accepted bool   `json:"accepted"`
	Message  string `json:"message"`
}

// apiError is the body of every error answer.
type apiError struct {
	Error  string `json:"error"`
	Reason string `json:"reason"` // forbidden, bad_request, not_found, method_not_allowed
}

// Facts are what the agent knows, handed to the server by its Source.
// The server turns them into the answers above; they never hold secrets.
type Facts struct {
	AgentVersion string
	StartedAt    time.Time
	Enrolled     bool
	// NotEnrolled says why the device is not enrolled (when !Enrolled).
	NotEnrolled string
	DeviceID    string
	Server      string
	// Detectors are all registered detectors, Enabled when this agent's
	// configuration or fleet policy runs them.
	Detectors []DetectorFacts

	// LastCheck is when the last check finished, zero when none did;
	// LastCheckError its error. Findings and Runs are the last check that
	// produced a result (a check whose report could not be queued still
	// has findings).
	LastCheck      time.Time
	LastCheckError string
	Findings       []detectors.Finding
	Runs           []detectors.RunResult
	NextCheck      time.Time

	LastDelivery      time.Time
	LastAttempt       time.Time
	LastDeliveryError string
	// Refused is true when the last attempt failed because the collector
	// refuses this device (not a network problem).
	Refused bool

	Queue Queue
}

// DetectorFacts names a registered detector.
type DetectorFacts struct {
	Name        string
	Description string
	Enabled     bool
}

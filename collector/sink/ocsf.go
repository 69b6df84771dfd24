package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// OCSF rendering: each event is one OCSF 1.3.0 Detection Finding
// (class_uid 2004, Findings category 2), one JSON object per line.
// Mapping (attribute: value; schema.ocsf.io/1.3.0/classes/detection_finding
// and the objects it references):
//
//	class_uid 2004, class_name "Detection Finding"
//	category_uid 2, category_name "Findings"
//	activity_id / activity_name  1 Create (event created), 2 Update (updated)
//	type_uid / type_name         class_uid*100 + activity_id, "Detection Finding: Create"
//	severity_id / severity       info→1 Informational, low→2 Low, medium→3 Medium,
//	                             high→4 High, critical→5 Critical
//	status_id / status           alert status: new→1 New, acknowledged→2 In Progress,
//	                             suppressed→3 Suppressed, resolved→4 Resolved, other→99 Other
//	time                         alert last seen (else now), ms since the epoch
//	count                        detections aggregated into the alert
//	message                      alert summary (title when empty)
//	metadata                     version "1.3.0", product {name, vendor_name "farmwatch",
//	                             version}, correlation_uid the alert key,
//	                             logged_time when the line was written
//	finding_info                 uid alert id, title (a generated one when empty),
//	                             desc summary, types [kind],
//	                             first_seen_time, last_seen_time, modified_time
//	                             (updated_at), src_url console link
//	resources[]                  one Resource Details per member: uid device id,
//	                             name hostname, type "device", owner {name}
//	evidences[]                  one per member with device {type_id 3 Laptop, uid,
//	                             hostname, owner {name}, os {name, type_id}}, and a
//	                             last one {name "farmwatch.evidence", data: the
//	                             alert's evidence object verbatim}
//	unmapped                     {collector, alert_key, event}
//
// Times are ms since the epoch (timestamp_t). Required attributes of the
// class (category_uid, class_uid, activity_id, type_uid, severity_id,
// time, metadata.version, metadata.product, finding_info.uid,
// finding_info.title) are always set; device.type_id and os.type_id,
// required in their objects, too.

// OCSF constants.
const (
	ocsfVersion       = "1.3.0"
	ocsfClassUID      = 2004
	ocsfCategoryUID   = 2
	ocsfDeviceLaptop  = 3
	ocsfStatusOther   = 99
	ocsfEvidenceName  = "farmwatch.evidence"
	ocsfProductVendor = "farmwatch"
)

var ocsfSeverity = [...]struct {
	id   int
	name string
}{{1, "Informational"}, {2, "Low"}, {3, "Medium"}, {4, "High"}, {5, "Critical"}}

var ocsfStatus = map[string]struct {
	id   int
	name string
}{
	"new": {1, "New"}, "acknowledged": {2, "In Progress"},
	"suppressed": {3, "Suppressed"}, "resolved": {4, "Resolved"},
}

type ocsfFinding struct {
	ClassUID     int               `json:"class_uid"`
	ClassName    string            `json:"class_name"`
	CategoryUID  int               `json:"category_uid"`
	CategoryName string            `json:"category_name"`
	ActivityID   int               `json:"activity_id"`
	ActivityName string            `json:"activity_name"`
	TypeUID      int               `json:"type_uid"`
	TypeName     string            `json:"type_name"`
	SeverityID   int               `json:"severity_id"`
	Severity     string            `json:"severity"`
	StatusID     int               `json:"status_id"`
	Status       string            `json:"status"`
	Time         int64             `json:"time"`
	Count        int               `json:"count,omitempty"`
	Message      string            `json:"message,omitempty"`
	Metadata     ocsfMetadata      `json:"metadata"`
	FindingInfo  ocsfFindingInfo   `json:"finding_info"`
	Resources    []ocsfResource    `json:"resources,omitempty"`
	Evidences    []ocsfEvidence    `json:"evidences,omitempty"`
	Unmapped     map[string]string `json:"unmapped,omitempty"`
}

type ocsfMetadata struct {
	Version        string      `json:"version"`
	Product        ocsfProduct `json:"product"`
	CorrelationUID string      `json:"correlation_uid,omitempty"`
	LoggedTime     int64       `json:"logged_time,omitempty"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

type ocsfFindingInfo struct {
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Desc          string   `json:"desc,omitempty"`
	Types         []string `json:"types,omitempty"`
	FirstSeenTime int64    `json:"first_seen_time,omitempty"`
	LastSeenTime  int64    `json:"last_seen_time,omitempty"`
	ModifiedTime  int64    `json:"modified_time,omitempty"`
	SrcURL        string   `json:"src_url,omitempty"`
}

type ocsfUser struct {
	Name string `json:"name"`
}

type ocsfResource struct {
	UID   string    `json:"uid"`
	Name  string    `json:"name,omitempty"`
	Type  string    `json:"type"`
	Owner *ocsfUser `json:"owner,omitempty"`
}

type ocsfOS struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
}

type ocsfDevice struct {
	TypeID   int       `json:"type_id"`
	Type     string    `json:"type"`
	UID      string    `json:"uid"`
	Hostname string    `json:"hostname,omitempty"`
	Owner    *ocsfUser `json:"owner,omitempty"`
	OS       *ocsfOS   `json:"os,omitempty"`
}

type ocsfEvidence struct {
	Name   string          `json:"name,omitempty"`
	Device *ocsfDevice     `json:"device,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// ocsfOSOf maps an agent GOOS to an OCSF os object (type_id 100
// Windows, 200 Linux, 300 macOS, 0 Unknown).
func ocsfOSOf(goos string) *ocsfOS {
	switch goos {
	case "":
		return nil
	case "windows":
		return &ocsfOS{Name: "Windows", TypeID: 100}
	case "linux":
		return &ocsfOS{Name: "Linux", TypeID: 200}
	case "darwin":
		return &ocsfOS{Name: "macOS", TypeID: 300}
	}
	return &ocsfOS{Name: goos, TypeID: 0}
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// ocsfOf builds the Detection Finding of ev; now is the logging time.
func ocsfOf(ev Event, now time.Time) ocsfFinding {
	a := ev.Alert
	activity, activityName := 1, "Create"
	if ev.Event != EventCreated {
		activity, activityName = 2, "Update"
	}
	sev := ocsfSeverity[clampSeverity(a.Severity)]
	st, ok := ocsfStatus[string(a.Status)]
	if !ok {
		st.id, st.name = ocsfStatusOther, string(a.Status)
	}
	t := a.LastSeen
	if t.IsZero() {
		t = now
	}
	title := a.Title
	if title == "" {
		title = strings.Join(strings.Fields("farmwatch "+a.Kind+" alert "+strconv.FormatInt(a.ID, 10)), " ")
	}
	msg := a.Summary
	if msg == "" {
		msg = title
	}
	f := ocsfFinding{
		ClassUID: ocsfClassUID, ClassName: "Detection Finding",
		CategoryUID: ocsfCategoryUID, CategoryName: "Findings",
		ActivityID: activity, ActivityName: activityName,
		TypeUID: ocsfClassUID*100 + activity, TypeName: "Detection Finding: " + activityName,
		SeverityID: sev.id, Severity: sev.name,
		StatusID: st.id, Status: st.name,
		Time:    t.UnixMilli(),
		Count:   a.Count,
		Message: msg,
		Metadata: ocsfMetadata{
			Version:        ocsfVersion,
			Product:        ocsfProduct{Name: "farmwatch", VendorName: ocsfProductVendor, Version: Version},
			CorrelationUID: a.Key,
			LoggedTime:     now.UnixMilli(),
		},
		FindingInfo: ocsfFindingInfo{
			UID: strconv.FormatInt(a.ID, 10), Title: title, Desc: a.Summary,
			FirstSeenTime: millis(a.FirstSeen), LastSeenTime: millis(a.LastSeen),
			ModifiedTime: millis(a.UpdatedAt), SrcURL: ev.ConsoleURL,
		},
		Unmapped: map[string]string{"collector": ev.Collector, "alert_key": a.Key, "event": ev.Event},
	}
	if a.Kind != "" {
		f.FindingInfo.Types = []string{a.Kind}
	}
	for _, m := range ev.members() {
		var owner *ocsfUser
		if m.device.Owner != "" {
			owner = &ocsfUser{Name: m.device.Owner}
		}
		f.Resources = append(f.Resources, ocsfResource{UID: m.id, Name: m.device.Hostname, Type: "device", Owner: owner})
		f.Evidences = append(f.Evidences, ocsfEvidence{Device: &ocsfDevice{
			TypeID: ocsfDeviceLaptop, Type: "Laptop", UID: m.id,
			Hostname: m.device.Hostname, Owner: owner, OS: ocsfOSOf(m.device.OS),
		}})
	}
	f.Evidences = append(f.Evidences, ocsfEvidence{Name: ocsfEvidenceName, Data: evidenceJSON(a.Evidence)})
	return f
}

// encodeOCSF is the Detection Finding of ev as one compact JSON line,
// without the newline.
func encodeOCSF(ev Event, now time.Time) ([]byte, error) {
	return marshal(ocsfOf(ev, now))
}

// ocsfFile appends findings to a JSON Lines file.
type ocsfFile struct {
	name string
	path string
	log  *zap.Logger
	now  func() time.Time

	mu sync.Mutex
	f  *os.File
}

var _ Sink = (*ocsfFile)(nil)

func newOCSFFile(name, path string, log *zap.Logger) (*ocsfFile, error) {
	s := &ocsfFile{name: name, path: path, log: log, now: time.Now}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("sink %s: %w", name, err)
	}
	return s, nil
}

func (s *ocsfFile) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	s.f = f
	return nil
}

func (s *ocsfFile) Name() string { return s.name }

// Deliver appends one line and syncs it to disk. When the file was
// moved or removed (log rotation), it is reopened at its path first.
func (s *ocsfFile) Deliver(ctx context.Context, ev Event) error {
	line, err := encodeOCSF(ev, s.now())
	if err != nil {
		return fmt.Errorf("%w: ocsf: encode alert %d: %w", ErrPermanent, ev.Alert.ID, err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.f == nil || s.rotated() {
		if s.f != nil {
			s.log.Info("ocsf file moved or removed; reopening", zap.String("path", s.path))
			_ = s.f.Close()
			s.f = nil
		}
		if err := s.open(); err != nil {
			return fmt.Errorf("ocsf: %w", err)
		}
	}
	if _, err := s.f.Write(line); err != nil {
		// A short write leaves a partial line; the retry appends a
		// whole one after it. Reopen next time in case the fd is bad.
		_ = s.f.Close()
		s.f = nil
		return fmt.Errorf("ocsf: write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		_ = s.f.Close()
		s.f = nil
		return fmt.Errorf("ocsf: sync %s: %w", s.path, err)
	}
	return nil
}

// rotated reports whether the path no longer names the open file.
func (s *ocsfFile) rotated() bool {
	pi, err := os.Stat(s.path)
	if err != nil {
		return true
	}
	fi, err := s.f.Stat()
	if err != nil {
		return true
	}
	return !os.SameFile(pi, fi)
}

func (s *ocsfFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// ocsfHTTP POSTs each finding as a request body of one JSON line.
type ocsfHTTP struct {
	name string
	p    *poster
	log  *zap.Logger
}

var _ Sink = (*ocsfHTTP)(nil)

func newOCSFHTTP(name, url string, secret []byte, timeout time.Duration, log *zap.Logger) *ocsfHTTP {
	return &ocsfHTTP{name: name, p: newPoster(url, secret, timeout), log: log}
}

func (s *ocsfHTTP) Name() string { return s.name }

func (s *ocsfHTTP) Deliver(ctx context.Context, ev Event) error {
	line, err := encodeOCSF(ev, s.p.now())
	if err != nil {
		return fmt.Errorf("%w: ocsf: encode alert %d: %w", ErrPermanent, ev.Alert.ID, err)
	}
	return s.p.post(ctx, append(line, '\n'), "application/json", nil)
}

func (s *ocsfHTTP) Close() error {
	s.p.close()
	return nil
}

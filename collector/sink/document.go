package sink

import (
	"bytes"
	"encoding/json"
	"time"
)

// SchemaAlertV1 names the JSON alert document sent by the webhook sink
// and by the syslog sink with format json.
const SchemaAlertV1 = "farmwatch.alert/v1"

// AlertDocument is the farmwatch.alert/v1 JSON object. It is a contract
// for receivers: fields are only ever added; a change of meaning gets a
// new schema name. Example (webhook body):
//
//	{
//	  "schema": "farmwatch.alert/v1",
//	  "event": "created",
//	  "collector": "farmwatch-eu",
//	  "alert": {
//	    "id": 42, "key": "farm:public_ip:203.0.113.7", "kind": "farm",
//	    "severity": "high", "status": "new",
//	    "title": "3 laptops of 3 owners behind one public IP",
//	    "summary": "…",
//	    "first_seen": "2026-11-20T10:00:00Z", "last_seen": "2026-11-20T11:00:00Z",
//	    "updated_at": "2026-11-20T11:00:00Z", "count": 2,
//	    "members": [{"device_id": "d-1", "hostname": "LT-0042", "owner": "alice@example.com", "os": "windows"}],
//	    "evidence": {"public_ip": "203.0.113.7"}
//	  },
//	  "links": {"console": "https://farmwatch.example/alerts/42"}
//	}
//
// Times are RFC 3339 in UTC; empty strings, zero times and unknown member
// details are left out. evidence is the alert's evidence object verbatim
// ({} when there is none, {"unparsed": "…"} if it was not valid JSON).
type AlertDocument struct {
	Schema    string     `json:"schema"`
	Event     string     `json:"event"`
	Collector string     `json:"collector,omitempty"`
	Alert     AlertBody  `json:"alert"`
	Links     AlertLinks `json:"links"`
}

// AlertBody is the alert inside an AlertDocument.
type AlertBody struct {
	ID  int64  `json:"id"`
	Key string `json:"key"`
	// Kind is what correlation found, e.g. "farm" or "kvm".
	Kind string `json:"kind"`
	// Severity is info, low, medium, high or critical.
	Severity string `json:"severity"`
	// Status is new, acknowledged, resolved or suppressed.
	Status       string          `json:"status"`
	Title        string          `json:"title"`
	Summary      string          `json:"summary,omitempty"`
	FirstSeen    string          `json:"first_seen,omitempty"`
	LastSeen     string          `json:"last_seen,omitempty"`
	UpdatedAt    string          `json:"updated_at,omitempty"`
	Count        int             `json:"count"`
	StatusReason string          `json:"status_reason,omitempty"`
	Members      []AlertMember   `json:"members"`
	Evidence     json.RawMessage `json:"evidence"`
}

// AlertMember is one device of the alert; only device_id is always set.
type AlertMember struct {
	DeviceID     string `json:"device_id"`
	Hostname     string `json:"hostname,omitempty"`
	Owner        string `json:"owner,omitempty"`
	OS           string `json:"os,omitempty"`
	Arch         string `json:"arch,omitempty"`
	PublicIP     string `json:"public_ip,omitempty"`
	LastSeen     string `json:"last_seen,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// AlertLinks are links for the SOC.
type AlertLinks struct {
	// Console is the alert's page in the collector console.
	Console string `json:"console,omitempty"`
}

// document builds the AlertDocument of ev.
func document(ev Event) AlertDocument {
	a := ev.Alert
	ms := ev.members()
	members := make([]AlertMember, len(ms))
	for i, m := range ms {
		members[i] = AlertMember{DeviceID: m.id}
		if m.known {
			d := m.device
			members[i].Hostname, members[i].Owner = d.Hostname, d.Owner
			members[i].OS, members[i].Arch = d.OS, d.Arch
			members[i].PublicIP, members[i].AgentVersion = d.PublicIP, d.AgentVersion
			members[i].LastSeen = rfc3339(d.LastSeen)
		}
	}
	return AlertDocument{
		Schema:    SchemaAlertV1,
		Event:     ev.Event,
		Collector: ev.Collector,
		Alert: AlertBody{
			ID: a.ID, Key: a.Key, Kind: a.Kind,
			Severity: severityName(a.Severity), Status: string(a.Status),
			Title: a.Title, Summary: a.Summary,
			FirstSeen: rfc3339(a.FirstSeen), LastSeen: rfc3339(a.LastSeen), UpdatedAt: rfc3339(a.UpdatedAt),
			Count: a.Count, StatusReason: a.StatusReason,
			Members:  members,
			Evidence: evidenceJSON(a.Evidence),
		},
		Links: AlertLinks{Console: ev.ConsoleURL},
	}
}

// encodeJSON is the compact AlertDocument of ev, without a trailing
// newline. HTML characters are not escaped (the receivers are SIEMs).
func encodeJSON(ev Event) ([]byte, error) {
	return marshal(document(ev))
}

// marshal encodes v compactly without HTML escaping or trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// evidenceJSON returns the evidence as embeddable JSON: {} when empty,
// wrapped in {"unparsed": …} when not valid JSON.
func evidenceJSON(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}")
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	w, _ := json.Marshal(map[string]string{"unparsed": string(b)}) // a map of strings always encodes
	return w
}

// rfc3339 formats t in UTC, "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

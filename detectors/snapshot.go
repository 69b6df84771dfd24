package detectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// SnapshotSchema is the version of the snapshot contract this build reads
// and writes.
const SnapshotSchema = "farmwatch.snapshot/v1"

// MaxSnapshotBytes bounds what ReadSnapshot accepts.
const MaxSnapshotBytes = 64 << 20

// HostInfo identifies the host a snapshot or scan is about.
type HostInfo struct {
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	Hostname    string    `json:"hostname"`
	CollectedAt time.Time `json:"collected_at"`
}

// Snapshot is the snapshot contract: a host's observations, per detector
// name. Observations stay raw here; each detector decodes its own.
type Snapshot struct {
	Schema       string                     `json:"schema"`
	Host         HostInfo                   `json:"host"`
	Observations map[string]json.RawMessage `json:"observations"`
}

// NewSnapshot builds a snapshot from live observations.
func NewSnapshot(host HostInfo, obs map[string]Observation) (*Snapshot, error) {
	s := &Snapshot{Schema: SnapshotSchema, Host: host, Observations: map[string]json.RawMessage{}}
	names := make([]string, 0, len(obs))
	for n := range obs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := json.Marshal(obs[n])
		if err != nil {
			return nil, fmt.Errorf("encode %s observation: %w", n, err)
		}
		s.Observations[n] = b
	}
	return s, nil
}

// ReadSnapshot reads and checks a snapshot: well-formed JSON, the known
// schema, a host section and an observations object. The error says which.
func ReadSnapshot(r io.Reader) (*Snapshot, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSnapshotBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if len(data) > MaxSnapshotBytes {
		return nil, fmt.Errorf("snapshot larger than %d bytes", MaxSnapshotBytes)
	}
	return ParseSnapshot(data)
}

// ParseSnapshot is ReadSnapshot on bytes.
func ParseSnapshot(data []byte) (*Snapshot, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("snapshot is empty")
	}
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("snapshot is not valid JSON (byte %d): %w", se.Offset, err)
		}
		return nil, fmt.Errorf("snapshot is malformed: %w", err)
	}
	if dec.More() {
		return nil, errors.New("snapshot is malformed: trailing data after the JSON object")
	}
	switch {
	case s.Schema == "":
		return nil, fmt.Errorf("snapshot has no schema (want %q)", SnapshotSchema)
	case s.Schema != SnapshotSchema:
		return nil, fmt.Errorf("unknown snapshot schema %q (this build reads %q)", s.Schema, SnapshotSchema)
	case s.Observations == nil:
		return nil, errors.New("snapshot has no observations object")
	}
	for name, raw := range s.Observations {
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return nil, fmt.Errorf("snapshot observation %q is not a JSON object", name)
		}
	}
	return &s, nil
}

package remoteaccess

import (
	"encoding/json"

	"github.com/farmwatch/farmwatch/detectors"
	"github.com/farmwatch/farmwatch/detectors/inventory"
)

// Schema is the version of Observation.
const Schema = "remoteaccess/v1"

// Observation is what Observe records about remote access on a host. The
// fields processes, services and listeners are part of the snapshot
// contract (DESIGN.md); the others are this detector's additions.
type Observation struct {
	Schema string `json:"schema"`
	OS     string `json:"os,omitempty"`
	// Processes running on the host.
	Processes []Process `json:"processes"`
	// Services: Windows services, launchd jobs, systemd units.
	Services []Service `json:"services"`
	// Software installed (uninstall entries, app bundles, packages).
	Software []Software `json:"software,omitempty"`
	// Paths are catalogue install paths found on disk.
	Paths []string `json:"paths,omitempty"`
	// Listeners are listening TCP sockets and bound UDP sockets.
	Listeners []Listener `json:"listeners"`
	// Connections are established outbound TCP connections.
	Connections []Connection `json:"connections,omitempty"`
	// Features are the OS's own remote-desktop hosts (RDP, Screen
	// Sharing, Remote Management, xrdp, VNC) and whether they are on.
	Features []Feature `json:"features,omitempty"`
	// Sessions are active remote sessions the OS reports.
	Sessions []Session `json:"sessions,omitempty"`
	// Unattended lists evidence of unattended access set up, such as a
	// Chrome Remote Desktop host configuration.
	Unattended []UnattendedSetup `json:"unattended,omitempty"`
	// Errors lists the sources that could not be read, so an absent tool
	// is never confused with an unreadable source.
	Errors []SourceError `json:"errors,omitempty"`
}

// Process follows the snapshot contract; it is the process table's own
// record.
type Process = detectors.Process

// Service follows the snapshot contract. Kind is "windows_service",
// "launchd" or "systemd". State is "running", "stopped" or "unknown", and
// on Windows also "starting", "stopping" or "paused". StartMode is "auto",
// "manual", "disabled", on Windows also "boot" or "system", or "" when
// unknown.
type Service struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	State       string `json:"state"`
	Path        string `json:"path,omitempty"`
	Kind        string `json:"kind,omitempty"`
	StartMode   string `json:"start_mode,omitempty"`
	User        string `json:"user,omitempty"`
}

// Software is one installed product, as the shared inventory readers
// (uninstall entries, app bundles, dpkg and rpm) report it.
type Software = inventory.Software

// Listener follows the snapshot contract.
type Listener struct {
	Proto string `json:"proto"`
	Addr  string `json:"addr"`
	Port  uint32 `json:"port"`
	PID   int32  `json:"pid"`
}

// Connection is an established TCP connection.
type Connection struct {
	Proto      string `json:"proto"`
	LocalPort  uint32 `json:"local_port"`
	RemoteAddr string `json:"remote_addr"`
	RemotePort uint32 `json:"remote_port"`
	PID        int32  `json:"pid"`
}

// Feature is an OS remote-desktop host. Name is "rdp",
// "screen_sharing", "remote_management", "xrdp" or "vnc".
type Feature struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// Source says where Enabled was read.
	Source string `json:"source"`
	Detail string `json:"detail,omitempty"`
}

// Session is an active remote session. Protocol is "rdp", "ssh", "vnc",
// "x11" or "remote" when the OS only says it is remote.
type Session struct {
	Protocol string `json:"protocol"`
	User     string `json:"user,omitempty"`
	Client   string `json:"client,omitempty"`
	State    string `json:"state,omitempty"`
	ID       string `json:"id,omitempty"`
}

// UnattendedSetup is evidence of unattended remote access configured.
type UnattendedSetup struct {
	Tool   string `json:"tool"`
	Kind   string `json:"kind"` // "host_config", "pin_cmdline"
	Path   string `json:"path,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// SourceError names a source that could not be read.
type SourceError = detectors.SourceError

// ObservationSchema implements detectors.Observation.
func (*Observation) ObservationSchema() string { return Schema }

var _ detectors.Observation = (*Observation)(nil)

func (o *Observation) addError(source string, err error) {
	o.Errors = append(o.Errors, SourceError{Source: source, Error: err.Error()})
}

// decodeObservation parses a recorded observation.
func decodeObservation(raw json.RawMessage) (*Observation, error) {
	o, err := detectors.DecodeObservation[Observation](raw, Schema)
	if err != nil {
		return nil, err
	}
	o.Schema = Schema
	return o, nil
}

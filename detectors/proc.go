package detectors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	psnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// Process is one running process as a ProcessTable reports it.
type Process struct {
	PID     int32  `json:"pid"`
	PPID    int32  `json:"ppid"`
	Name    string `json:"name"`
	Exe     string `json:"exe,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	User    string `json:"user,omitempty"`
}

// Socket is one TCP/UDP socket. State is the TCP state ("LISTEN",
// "ESTABLISHED" …), empty for UDP.
type Socket struct {
	Proto      string `json:"proto"`
	LocalAddr  string `json:"local_addr"`
	LocalPort  uint32 `json:"local_port"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	RemotePort uint32 `json:"remote_port,omitempty"`
	State      string `json:"state,omitempty"`
	PID        int32  `json:"pid"`
}

// ProcessTable lists processes and sockets of the host.
type ProcessTable interface {
	Processes(ctx context.Context) ([]Process, error)
	Sockets(ctx context.Context) ([]Socket, error)
}

// StaticProcessTable is a ProcessTable with fixed contents, for tests and
// for replaying recorded hosts.
type StaticProcessTable struct {
	Procs []Process
	Socks []Socket
}

// Processes implements ProcessTable.
func (s StaticProcessTable) Processes(context.Context) ([]Process, error) { return s.Procs, nil }

// Sockets implements ProcessTable.
func (s StaticProcessTable) Sockets(context.Context) ([]Socket, error) { return s.Socks, nil }

// liveProcessTable reads the running system through gopsutil.
type liveProcessTable struct{}

func (liveProcessTable) Processes(ctx context.Context) ([]Process, error) {
	ps, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := make([]Process, 0, len(ps))
	for _, p := range ps {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		name, err := p.NameWithContext(ctx)
		if err != nil {
			continue // exited meanwhile, or a kernel thread we may not read
		}
		e := Process{PID: p.Pid, Name: name}
		e.PPID, _ = p.PpidWithContext(ctx)
		e.Exe, _ = p.ExeWithContext(ctx)
		e.Cmdline, _ = p.CmdlineWithContext(ctx)
		e.User, _ = p.UsernameWithContext(ctx)
		out = append(out, e)
	}
	return out, nil
}

func (liveProcessTable) Sockets(ctx context.Context) ([]Socket, error) {
	cs, err := psnet.ConnectionsWithContext(ctx, "inet")
	if err != nil && len(cs) == 0 {
		return nil, fmt.Errorf("list sockets: %w", err)
	}
	out := make([]Socket, 0, len(cs))
	for _, c := range cs {
		proto := "tcp"
		if c.Type == 2 { // SOCK_DGRAM
			proto = "udp"
		}
		out = append(out, Socket{
			Proto: proto, LocalAddr: c.Laddr.IP, LocalPort: c.Laddr.Port,
			RemoteAddr: c.Raddr.IP, RemotePort: c.Raddr.Port,
			State: strings.ToUpper(c.Status), PID: c.Pid,
		})
	}
	if err != nil {
		return out, errors.Join(errors.New("some sockets could not be read"), err)
	}
	return out, nil
}

// Package svc runs farmwatch as a system service and installs it: the
// kardianos/service configuration for each service manager (a hardened
// systemd unit, a launchd daemon plist that runs at load, a Windows SCM
// service with recovery actions and no delayed start), the per-OS run path
// under the manager's control (on Windows through golang.org/x/sys/windows/svc
// directly), and the plain state that `farmwatch service status` prints.
//
// The unit and plist are rendered here, by plain Go, and handed to
// kardianos as complete files, so they are golden-tested without
// installing anything. This package knows nothing of scanning: the run
// function it is given (agent.Agent.Serve) does the work.
package svc

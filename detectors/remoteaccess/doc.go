// Package remoteaccess is the detector of remote-access software: remote
// control and RMM tools, VNC and RDP servers, tunnels, the operating
// system's own remote-desktop hosts, and remote sessions in progress.
//
// Observe reads, through the detectors.Host it is given: processes and
// sockets (gopsutil, behind Host.Proc); on Windows the service control
// manager, uninstall registry keys, the RDP settings and terminal-services
// sessions (native_windows.go, the only file that calls Windows APIs); on
// macOS launchd job plists, `launchctl list`, `launchctl print-disabled
// system`, app bundles and the Remote Management state (macoshost.go); on
// Linux systemd unit files and `systemctl list-units`, the dpkg status
// file or `rpm -qa`, and utmp (linuxhost.go); on every OS the catalogue's
// install paths and Chrome Remote Desktop host configurations. Installed
// software (uninstall entries, app bundles, dpkg/rpm) is read by the
// shared detectors/inventory package, which geodrift uses too.
//
// Evaluate matches the observation against the embedded catalogue
// (catalogue.yaml, see README.md) and raises these rules:
//
//	rule                                     severity           when
//	remoteaccess.unattended_access           high (tunnel: medium)  a tool runs as an auto-start service/daemon, or its process listens for connections
//	remoteaccess.running                     medium, high when the tool is named in DPRK IT-worker reporting (tunnel: low)  a tool's process or service runs
//	remoteaccess.installed                   low (tunnel: info) a tool is installed (software entry, package, bundle, path, stopped service) but not running
//	remoteaccess.crd_unattended_pin          high; critical with --pin on a command line  Chrome Remote Desktop registered for unattended access
//	remoteaccess.multiple_tools              high; critical when two or more run  two or more distinct remote-control tools (tunnels not counted)
//	remoteaccess.os_remote_desktop_enabled   low                RDP, Screen Sharing, Remote Management, xrdp or a VNC listener is on
//	remoteaccess.os_remote_desktop_in_use    high               an RDP/VNC session, or an inbound connection to port 3389 or 5900
//	remoteaccess.sanctioned                  info               a tool the policy sanctions, within its path/publisher constraints
//
// A tool produces one finding, under the strongest of the first three
// rules that applies. The policy (Policy) sanctions tools by catalogue id,
// optionally restricted to install paths and publishers, and can lower the
// OS remote-desktop rules to info for fleets that use them. Client programs
// (mstsc.exe, VNC viewers, the Microsoft Remote Desktop app) are not hosts
// and are not catalogued. MITRE ATT&CK: T1219 and T1219.002 for remote
// control, T1021.001/T1021.005 for RDP/VNC, T1572 for tunnels.
package remoteaccess

package svc

import (
	"fmt"
	"strings"

	"github.com/kardianos/service"
)

// Service identity.
const (
	Name        = "farmwatch"
	DisplayName = "farmwatch agent"
	Description = "Checks this laptop for remote-access tools, KVM hardware and other signs of a laptop farm, and reports signed findings to the company's collector."
)

// Options say what the installed service runs.
type Options struct {
	// Name is the service name (default Name; tests use their own).
	Name string
	// Executable is the absolute path of the farmwatch binary.
	Executable string
	// Arguments follow the executable; default RunArguments(ConfigPath).
	Arguments []string
	// ConfigPath is passed as --config when not empty.
	ConfigPath string
	// StateDir and LogDir are the directories the service writes
	// (systemd: ReadWritePaths).
	StateDir, LogDir string
	// RuntimeDir holds the local API socket (default /run/farmwatch on
	// Linux).
	RuntimeDir string
}

// RunArguments are the service's arguments: "run", and "--config PATH"
// when a configuration file was named.
func RunArguments(configPath string) []string {
	args := []string{"run"}
	if configPath != "" {
		args = append(args, "--config", configPath)
	}
	return args
}

func (o Options) name() string {
	if o.Name == "" {
		return Name
	}
	return o.Name
}

func (o Options) args() []string {
	if o.Arguments != nil {
		return o.Arguments
	}
	return RunArguments(o.ConfigPath)
}

// Windows recovery: restart after 1, 2, 4, 8, 16, 32 and then every 64
// seconds; the failure count resets after a day without failure.
var (
	RecoveryDelays      = []int{1, 2, 4, 8, 16, 32, 64}
	RecoveryResetPeriod = 24 * 60 * 60 // seconds
)

// Config is the kardianos configuration for goos.
func Config(goos string, o Options) *service.Config {
	c := &service.Config{
		Name:        o.name(),
		DisplayName: DisplayName,
		Description: Description,
		Executable:  o.Executable,
		Arguments:   o.args(),
		Option:      service.KeyValue{},
	}
	switch goos {
	case "windows":
		c.Option["StartType"] = "automatic"
		c.Option["DelayedAutoStart"] = false
		c.Option["OnFailure"] = "restart"
		c.Option["OnFailureDelayDuration"] = fmt.Sprintf("%ds", RecoveryDelays[0])
		c.Option["OnFailureResetPeriod"] = RecoveryResetPeriod
	case "darwin":
		c.Option["RunAtLoad"] = true
		c.Option["KeepAlive"] = true
		c.Option["LaunchdConfig"] = LaunchdPlist(o)
	default:
		c.Option["SystemdScript"] = SystemdUnit(o)
	}
	return c
}

// SystemdUnit renders the systemd unit: restarted on failure, given time
// to send the "stopping" report, and confined to what the detectors need.
//
// The agent runs as root but keeps only three capabilities:
// CAP_NET_RAW (ARP and ICMP probes of the colocation and geodrift
// detectors), CAP_SYS_PTRACE (the executable path of other users'
// processes, /proc/PID/exe) and CAP_DAC_READ_SEARCH (/proc/PID/fd, to tie
// listening sockets to their processes). Without the last two the
// remoteaccess detector still sees names and command lines, but not the
// executable path or which process owns a socket.
func SystemdUnit(o Options) string {
	state, logs, run := o.StateDir, o.LogDir, o.RuntimeDir
	if state == "" {
		state = "/var/lib/farmwatch"
	}
	if logs == "" {
		logs = "/var/log/farmwatch"
	}
	if run == "" {
		run = "/run/farmwatch"
	}
	exec := []string{systemdQuote(o.Executable)}
	for _, a := range o.args() {
		exec = append(exec, systemdQuote(a))
	}
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line("[Unit]")
	line("Description=" + DisplayName + ": " + Description)
	line("Documentation=https://github.com/farmwatch/farmwatch/blob/main/docs/service.md")
	line("Wants=network-online.target")
	line("After=network-online.target")
	line("ConditionFileIsExecutable=" + systemdQuote(o.Executable))
	line("")
	line("[Service]")
	line("Type=simple")
	line("ExecStart=" + strings.Join(exec, " "))
	line("Environment=FARMWATCH_LOG_FORMAT=json")
	line("Restart=on-failure")
	line("RestartSec=5")
	line("# SIGTERM, then time for the signed \"stopping\" report before SIGKILL.")
	line("TimeoutStopSec=30")
	line("# Directories: state (keys, queue), the local API socket, logs.")
	if state == "/var/lib/farmwatch" {
		line("StateDirectory=farmwatch")
		line("StateDirectoryMode=0700")
	}
	if run == "/run/farmwatch" {
		line("RuntimeDirectory=farmwatch")
		line("RuntimeDirectoryMode=0755")
	}
	if logs == "/var/log/farmwatch" {
		line("LogsDirectory=farmwatch")
	}
	line("ReadWritePaths=" + strings.Join([]string{systemdQuote(state), systemdQuote(run), "-" + systemdQuote(logs)}, " "))
	line("UMask=0077")
	line("# Capabilities: raw sockets; other users' /proc/PID/exe and /proc/PID/fd.")
	line("AmbientCapabilities=CAP_NET_RAW")
	line("CapabilityBoundingSet=CAP_NET_RAW CAP_SYS_PTRACE CAP_DAC_READ_SEARCH")
	line("NoNewPrivileges=yes")
	line("ProtectSystem=strict")
	line("ProtectHome=read-only")
	line("PrivateTmp=yes")
	line("PrivateDevices=yes")
	line("ProtectKernelTunables=yes")
	line("ProtectKernelModules=yes")
	line("ProtectKernelLogs=yes")
	line("ProtectControlGroups=yes")
	line("ProtectClock=yes")
	line("ProtectHostname=yes")
	line("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET")
	line("RestrictNamespaces=yes")
	line("RestrictRealtime=yes")
	line("RestrictSUIDSGID=yes")
	line("LockPersonality=yes")
	line("MemoryDenyWriteExecute=yes")
	line("SystemCallArchitectures=native")
	line("SystemCallFilter=@system-service")
	line("SystemCallErrorNumber=EPERM")
	line("# Stay light: a hard memory ceiling above the agent's own watchdog limit,")
	line("# and a low share of CPU and disk when the laptop is busy.")
	line("MemoryMax=256M")
	line("CPUWeight=20")
	line("IOWeight=20")
	line("")
	line("[Install]")
	line("WantedBy=multi-user.target")
	return b.String()
}

// systemdQuote quotes one word of a systemd command line or path list:
// specifiers (%) and variables ($) are escaped; a word with spaces,
// quotes or backslashes is double-quoted.
func systemdQuote(s string) string {
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// LaunchdPlist renders the macOS LaunchDaemon: started at load and kept
// alive, given time to send the "stopping" report, at background
// priority.
func LaunchdPlist(o Options) string {
	logs := o.LogDir
	if logs == "" {
		logs = "/Library/Logs/farmwatch"
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + xmlEscape(o.name()) + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range append([]string{o.Executable}, o.args()...) {
		b.WriteString("\t\t<string>" + xmlEscape(a) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>EnvironmentVariables</key>
	<dict>
		<key>FARMWATCH_LOG_FORMAT</key>
		<string>json</string>
	</dict>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>10</integer>
	<key>ExitTimeOut</key>
	<integer>30</integer>
	<key>ProcessType</key>
	<string>Background</string>
	<key>LowPriorityIO</key>
	<true/>
	<key>StandardOutPath</key>
	<string>` + xmlEscape(logs+"/farmwatch.out.log") + `</string>
	<key>StandardErrorPath</key>
	<string>` + xmlEscape(logs+"/farmwatch.err.log") + `</string>
</dict>
</plist>
`)
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

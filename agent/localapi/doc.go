// Package localapi is the agent's local status API: HTTP/1.1 over a unix
// socket (Linux, macOS) or named pipes (Windows), served by the farmwatch
// service and read by `farmwatch status`, `farmwatch doctor` and the tray.
//
// Read-only endpoints (status, last scan in plain words, collector
// connection, queue, what is collected and why) answer any local user.
// The privileged endpoint (check now) answers only administrators: on unix
// the server reads the caller's credentials from the socket (SO_PEERCRED on
// Linux, LOCAL_PEERCRED on macOS) and admits root and members of the
// configured admin groups; on Windows a second pipe, whose security
// descriptor admits only SYSTEM and Administrators, carries the privileged
// calls, so the operating system does the check.
//
// The package holds the wire types, the server (fed by a Source the agent
// implements), the client, and the plain-language rendering of status
// (Describe), which is pure so that its output is golden-tested. It never
// exposes credentials (device key, fleet key, enrollment token) and never
// imports the agent package.
package localapi

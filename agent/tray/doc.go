// Package tray is farmwatch's per-user tray icon: a client of the agent's
// local status API (agent/localapi) that shows the same plain-language
// status lines as `farmwatch status`, coloured green (nothing unusual),
// amber (needs attention), red (found something, or an error) or grey
// (the service is not running), with "Check now" for administrators.
// It never holds device credentials and never talks to the collector.
//
// The status-to-menu mapping (ViewOf), the icons and the per-user
// autostart entries (XDG autostart, LaunchAgent, Windows Run key) are
// plain Go, tested without a display. The tray itself (fyne.io/systray)
// builds without cgo on Linux and Windows; on macOS it needs cgo, so a
// cgo-free darwin build reports how to build it (docs/service.md).
package tray

// Package agent is the farmwatch endpoint: configuration, logging, the scan
// that runs detectors and renders their findings, and the wiring the CLI
// (agent/cmd/farmwatch) uses.
//
// The agent imports detectors (and, later, transport); nothing in
// detectors or collector imports the agent.
package agent

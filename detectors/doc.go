// Package detectors holds the contract every farmwatch detector implements,
// the registry detectors add themselves to, and the engine that runs them.
//
// A detector works in two phases. Observe is the only step that touches the
// machine, and it reaches the machine only through the *Host it is given
// (filesystem root, allow-listed command runner, clock, logger), so tests
// hand each case its own fake host. Evaluate is pure: the current
// observation, the previous one and the detector's policy go in, findings
// come out, with no I/O and no clock.
//
// Observations are versioned, JSON-serialisable values ("remoteaccess/v1")
// and travel in the snapshot contract (Snapshot, schema
// "farmwatch.snapshot/v1"); findings follow the Finding contract. Both are
// described in DESIGN.md and must only change with a new version.
//
// This package must not import agent, transport or collector; detector
// packages import this one and register themselves from init.
package detectors

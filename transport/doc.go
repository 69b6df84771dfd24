// Package transport carries findings from an agent to the collector:
// device identity (an ECDSA P-256 key generated on the device, its device
// id derived from the public key), enrollment and renewal, the report wire
// contract (farmwatch.report/v1 in a DSSE envelope signed by the device
// key), the mTLS client that delivers batches with backoff, the fleet
// policy the collector serves, and the durable outbound queue that loses
// nothing across crashes.
//
// The agent imports this package to send; the collector imports it for
// the wire types and for envelope verification. It imports neither of
// them, only detectors (for the Finding contract).
package transport

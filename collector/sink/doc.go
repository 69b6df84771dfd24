// Package sink delivers farmwatch alerts to the SOC: a signed JSON
// webhook, syslog (RFC 5424 over TCP or TLS, with a CEF or JSON body) to
// a SIEM, and OCSF 1.3 Detection Findings appended to a JSON Lines file
// or POSTed to a URL. It holds the sinks' configuration (Config, the
// `sinks:` list of collector.yaml), the Sink interface and its three
// implementations, the formats, and the Dispatcher that drains the
// store's outbox into the sinks.
//
// What must not live here: deciding what is an alert or who gets it
// (collector/correlate and the server, which call Wants), and storage
// (collector/store owns the outbox; this package only claims, completes
// and retries deliveries through store.Store).
//
// # Delivery guarantee
//
// At-least-once, from a durable outbox, never blocking ingest. When the
// collector creates or raises an alert, Store.UpsertAlert writes one
// Delivery per chosen sink in the alert's own transaction, so an alert
// and its notifications are stored together or not at all; ingest does
// nothing more. The Dispatcher runs one loop per sink: it claims
// deliveries with a lease, loads the alert and its member devices,
// delivers, and marks the delivery done only after the sink accepted it.
// Failures are retried with capped exponential backoff and jitter;
// permanent refusals (HTTP 4xx) are logged at error level and retried at
// the maximum backoff instead of being dropped, so no alert is lost to a
// misconfigured receiver. A crash between sending and marking done
// resends after the lease: receivers must tolerate duplicates and can
// dedupe on (alert id, event, alert updated_at).
//
// # Webhook signature
//
// Each webhook request is a POST of the farmwatch.alert/v1 document
// (AlertDocument) with
//
//	Content-Type: application/json
//	X-Farmwatch-Timestamp: <Unix seconds>
//	X-Farmwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//	X-Farmwatch-Event: created | updated
//	X-Farmwatch-Alert-Id: <alert id>
//
// The secret is shared with the receiver (secret_file, at least 16
// bytes). Receivers verify the signature over the raw body before
// parsing it and reject timestamps far from their clock, which bounds
// replays; VerifyWebhook does both. A 2xx answer means delivered; 408,
// 429, 5xx and network errors are retried; any other 4xx is a permanent
// refusal. Redirects are not followed.
//
// The CEF, syslog and OCSF shapes are documented in cef.go, syslog.go
// and ocsf.go.
package sink

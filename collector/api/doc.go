// Package api is the collector's REST/JSON API on the console port, under
// /api/v1: fleet reads (devices, reports, findings, alerts, audit, roster),
// alert actions for analysts, and administration (device revocation,
// enrollment tokens, users, API tokens) for admins. New returns its
// http.Handler; the OpenAPI 3.1 document describing every route is the
// embedded openapi.json, served at /api/v1/openapi.json and kept in step
// with the routes by a test.
//
// Callers authenticate with an API token (Authorization: Bearer fwa_…) or
// HTTP Basic (user name and password); a user's role (viewer < analyst <
// admin, see collector/auth) decides what it may call. Every state change
// writes an audit entry naming the user.
//
// The JSON views (Device, Alert, Finding, …) are exported so the collector
// CLI prints the same shapes with --json; they are a contract, like the
// routes. What does not live here: storage (collector/store), secrets and
// password hashing (collector/auth), the console's HTML, the agents' mTLS
// listener, and the serving itself (TLS, listeners, timeouts), which the
// collector's server wires around this handler.
package api

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Prefix is the path every API route lives under.
const Prefix = "/api/v1"

// maxBody bounds a request body.
const maxBody = 64 << 10

// Options configure the API.
type Options struct {
	Store store.Store
	// Log receives failed logins, state changes and server errors; nil
	// logs nothing.
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CollectorName names this collector in the Basic realm and in /me.
	CollectorName string
	// Metrics, when not nil, counts requests and authentication failures.
	Metrics *Metrics
}

// New returns the API's handler. It serves the paths below Prefix; mount
// it at "/api/" (or Prefix+"/") of the console listener.
func New(o Options) http.Handler {
	return newServer(o).handler
}

// handlerFunc serves one route for an authenticated caller (nil on the
// one public route). An error it returns becomes the error answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *caller) error

// route is one operation of the API.
type route struct {
	method string
	// path is below Prefix, in http.ServeMux syntax.
	path string
	// need is the least role that may call the route; "" is public.
	need store.Role
	// pending routes may be called by a user who must change the
	// password first.
	pending bool
	// query lists the accepted query parameters (besides limit and after
	// when paged); multi lists those that may repeat.
	query []string
	multi []string
	paged bool
	h     handlerFunc
}

func (rt route) pattern() string { return rt.method + " " + Prefix + rt.path }

// params is every query parameter the route accepts.
func (rt route) params() []string {
	p := slices.Clone(rt.query)
	if rt.paged {
		p = append(p, "limit", "after")
	}
	return p
}

type server struct {
	st      store.Store
	log     *zap.Logger
	now     func() time.Time
	name    string
	metrics *Metrics
	limiter *loginLimiter

	routes  []route
	mux     *http.ServeMux
	handler http.Handler
}

func newServer(o Options) *server {
	s := &server{
		st:      o.Store,
		log:     o.Log,
		now:     o.Now,
		name:    o.CollectorName,
		metrics: o.Metrics,
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	// The name goes into a quoted header parameter (the Basic realm).
	s.name = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < ' ' {
			return -1
		}
		return r
	}, s.name)
	if s.name == "" {
		s.name = "farmwatch"
	}
	s.limiter = newLoginLimiter(s.now)
	s.routes = s.table()
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern(), s.instrument(rt.pattern(), s.serve(rt)))
	}
	s.mux.Handle(Prefix+"/", s.instrument("unmatched", http.HandlerFunc(s.unmatched)))

	// Browsers send cached Basic credentials along with cross-site
	// requests: refuse cross-origin state changes (Sec-Fetch-Site, Origin).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusForbidden, reason: "cross_origin",
			msg: "cross-origin request refused"})
	}))
	s.handler = cop.Handler(s.mux)
	return s
}

// table is the API: every route, with the role it needs. The OpenAPI
// document describes exactly these (TestOpenAPICoversRoutes).
func (s *server) table() []route {
	const (
		viewer  = store.RoleViewer
		analyst = store.RoleAnalyst
		admin   = store.RoleAdmin
	)
	return []route{
		{method: "GET", path: "/openapi.json", h: s.openAPI},
		{method: "GET", path: "/me", need: viewer, h: s.me},
		{method: "POST", path: "/me/password", need: viewer, pending: true, h: s.changePassword},

		{method: "GET", path: "/devices", need: viewer, query: []string{"owner", "revoked", "silent_since"}, paged: true, h: s.listDevices},
		{method: "GET", path: "/devices/{id}", need: viewer, h: s.getDevice},
		{method: "GET", path: "/devices/{id}/reports", need: viewer, paged: true, h: s.listReports},
		{method: "POST", path: "/devices/{id}/revoke", need: admin, h: s.revokeDevice},
		{method: "GET", path: "/findings", need: viewer, query: []string{"device_id", "min_severity", "since"}, paged: true, h: s.listFindings},

		{method: "GET", path: "/alerts", need: viewer, query: []string{"status", "kind", "min_severity", "device_id"}, multi: []string{"status"}, paged: true, h: s.listAlerts},
		{method: "GET", path: "/alerts/{id}", need: viewer, h: s.getAlert},
		{method: "POST", path: "/alerts/{id}/ack", need: analyst, h: s.alertAction(store.AlertAcknowledged)},
		{method: "POST", path: "/alerts/{id}/resolve", need: analyst, h: s.alertAction(store.AlertResolved)},
		{method: "POST", path: "/alerts/{id}/suppress", need: analyst, h: s.alertAction(store.AlertSuppressed)},
		{method: "POST", path: "/alerts/{id}/unsuppress", need: analyst, h: s.alertAction(store.AlertNew)},

		{method: "GET", path: "/roster", need: viewer, paged: true, h: s.listRoster},
		{method: "GET", path: "/audit", need: admin, paged: true, h: s.listAudit},

		{method: "GET", path: "/enroll-tokens", need: admin, paged: true, h: s.listEnrollTokens},
		{method: "POST", path: "/enroll-tokens", need: admin, h: s.createEnrollToken},
		{method: "DELETE", path: "/enroll-tokens/{id}", need: admin, h: s.revokeEnrollToken},

		{method: "GET", path: "/users", need: admin, paged: true, h: s.listUsers},
		{method: "POST", path: "/users", need: admin, h: s.createUser},
		// Any user manages its own API tokens; an admin, anyone's.
		{method: "POST", path: "/api-tokens", need: viewer, h: s.createAPIToken},
		{method: "DELETE", path: "/api-tokens/{id}", need: viewer, h: s.revokeAPIToken},
	}
}

// serve authenticates, authorises and checks the query, then runs the
// route's handler.
func (s *server) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c *caller
		if rt.need != "" {
			var err error
			if c, err = s.authorize(r, rt); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if err := checkQuery(r, rt); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := rt.h(w, r, c); err != nil {
			s.fail(w, r, err)
		}
	})
}

// unmatched answers paths below Prefix that no route serves: 405 when the
// path exists with other methods, else 404.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != Prefix+"/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, reason: "method_not_allowed",
			msg: fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))})
		return
	}
	writeError(w, &apiError{status: http.StatusNotFound, reason: "no_such_route",
		msg: fmt.Sprintf("no API route %s %s (see %s/openapi.json)", r.Method, r.URL.Path, Prefix)})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times requests under the route's name.
func (s *server) instrument(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now() // latency, not the domain clock
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		s.metrics.request(name, sw.code, time.Since(start))
	})
}

// apiError is an error answer: {"error": msg, "reason": reason}.
type apiError struct {
	status int
	// reason is a stable code clients may test.
	reason string
	msg    string
	// retryAfter, when set, is sent as Retry-After.
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.msg }

// badParam is a 400 naming the query parameter at fault.
func badParam(name, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, reason: "invalid_parameter",
		msg: "query parameter " + name + ": " + fmt.Sprintf(format, args...)}
}

// badBody is a 400 about the request body.
func badBody(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, reason: "invalid_body", msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, reason: "not_found", msg: fmt.Sprintf(format, args...)}
}

func conflict(reason, format string, args ...any) *apiError {
	return &apiError{status: http.StatusConflict, reason: reason, msg: fmt.Sprintf(format, args...)}
}

func forbidden(reason, format string, args ...any) *apiError {
	return &apiError{status: http.StatusForbidden, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// storeErr maps the store's sentinel errors to answers; anything else is
// returned wrapped, and becomes a 500.
func storeErr(what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("%s not found", what)
	case errors.Is(err, store.ErrConflict):
		return conflict("conflict", "%s: %v", what, err)
	case errors.Is(err, store.ErrInvalid):
		return badBody("%s: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// listErr is storeErr for a paged listing, where the only request value
// the store can refuse is the cursor.
func listErr(what string, err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return badParam("after", "not a cursor this listing returned")
	}
	return storeErr(what, err)
}

// fail writes err as the answer; errors that are not an *apiError are
// server faults: logged, and answered without their details.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("api request failed", zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.Error(err))
		ae = &apiError{status: http.StatusInternalServerError, reason: "internal",
			msg: "internal error; the collector's log has the details"}
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Bearer realm="`+s.name+`"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="`+s.name+`", charset="UTF-8"`)
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.retryAfter+time.Second-1)/time.Second)))
	}
	writeError(w, ae)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}{e.msg, e.reason})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a view that cannot be encoded gets here: a bug.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error: the answer could not be encoded","reason":"internal"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// checkQuery refuses unknown, malformed and wrongly repeated query
// parameters, so a typo never silently widens a listing.
func checkQuery(r *http.Request, rt route) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &apiError{status: http.StatusBadRequest, reason: "invalid_parameter",
			msg: "malformed query string: " + err.Error()}
	}
	known := rt.params()
	for name, vals := range q {
		if !slices.Contains(known, name) {
			if len(known) == 0 {
				return badParam(name, "unknown; this route takes no query parameters")
			}
			return badParam(name, "unknown; this route takes %s", strings.Join(known, ", "))
		}
		if len(vals) > 1 && !slices.Contains(rt.multi, name) {
			return badParam(name, "given %d times; give it once", len(vals))
		}
	}
	return nil
}

// pageParams reads limit and after.
func pageParams(r *http.Request) (store.Page, error) {
	q := r.URL.Query()
	p := store.Page{After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return p, badParam("limit", "%q is not a whole number from 1 to 1000", v)
		}
		p.Limit = n
	}
	return p, nil
}

// decodeBody reads a JSON object into v: at most maxBody bytes, no
// unknown fields, nothing after it. An empty body leaves v as it is when
// optional, and is refused otherwise.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, reason: "body_too_large",
				msg: fmt.Sprintf("request body larger than %d bytes", maxBody)}
		}
		return badBody("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if optional {
			return nil
		}
		return badBody("a JSON request body is required")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, reason: "unsupported_media_type",
				msg: fmt.Sprintf("request body of type %q; send application/json", ct)}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badBody("request body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badBody("request body: data after the JSON object")
	}
	return nil
}

// jsonProblem words a decoding error for the client.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return fmt.Sprintf("field %q: want a JSON %s", ute.Field, jsonKind(ute.Type.Kind().String()))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "number"
	case goKind == "bool":
		return "boolean"
	case goKind == "string":
		return "string"
	case goKind == "slice":
		return "array"
	}
	return "object"
}

// parseTime reads a query time: RFC 3339, or a duration ("24h", "7d")
// meaning that long before now.
func parseTime(name, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if d, err := parseDuration(v); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, badParam(name, "%q is neither an RFC 3339 time (2026-11-20T10:00:00Z) nor a positive duration (24h, 7d)", v)
}

// parseDuration is time.ParseDuration that also takes whole days ("7d").
func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("bad number of days %q", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// pathID reads the {id} path value.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 200 {
		return "", &apiError{status: http.StatusBadRequest, reason: "invalid_parameter", msg: "path parameter id: missing or too long"}
	}
	return id, nil
}

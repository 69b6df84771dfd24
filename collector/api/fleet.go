package api

import (
	_ "embed"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
)

// openAPIDoc is the OpenAPI 3.1 description of the API, written by hand.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *server) openAPI(w http.ResponseWriter, r *http.Request, _ *caller) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPIDoc)
	return nil
}

func (s *server) me(w http.ResponseWriter, r *http.Request, c *caller) error {
	m := Me{User: UserView(c.user), Auth: "password", TokenID: c.tokenID, Collector: s.name}
	if c.tokenID != "" {
		m.Auth = "token"
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *server) listDevices(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.DeviceFilter{Owner: q.Get("owner")}
	if v := q.Get("revoked"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badParam("revoked", "%q is not true or false", v)
		}
		f.Revoked = &b
	}
	if v := q.Get("silent_since"); v != "" {
		if f.SilentSince, err = parseTime("silent_since", v, s.now()); err != nil {
			return err
		}
	}
	ds, next, err := s.st.ListDevices(r.Context(), f, p)
	if err != nil {
		return listErr("list devices", err)
	}
	writeJSON(w, http.StatusOK, Page[Device]{Items: mapSlice(ds, DeviceView), Next: next})
	return nil
}

func (s *server) getDevice(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := s.st.GetDevice(r.Context(), id)
	if err != nil {
		return storeErr("device "+id, err)
	}
	writeJSON(w, http.StatusOK, DeviceView(d))
	return nil
}

func (s *server) listReports(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	// An unknown device is a 404, not an empty list.
	if _, err := s.st.GetDevice(r.Context(), id); err != nil {
		return storeErr("device "+id, err)
	}
	rs, next, err := s.st.ListReports(r.Context(), id, p)
	if err != nil {
		return listErr("list reports", err)
	}
	writeJSON(w, http.StatusOK, Page[Report]{Items: mapSlice(rs, ReportView), Next: next})
	return nil
}

func (s *server) listFindings(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.FindingFilter{DeviceID: q.Get("device_id")}
	if v := q.Get("min_severity"); v != "" {
		if f.MinSeverity, err = parseSeverity("min_severity", v); err != nil {
			return err
		}
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = parseTime("since", v, s.now()); err != nil {
			return err
		}
	}
	fs, next, err := s.st.ListFindings(r.Context(), f, p)
	if err != nil {
		return listErr("list findings", err)
	}
	writeJSON(w, http.StatusOK, Page[Finding]{Items: mapSlice(fs, FindingView), Next: next})
	return nil
}

func (s *server) listAlerts(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AlertFilter{Kind: q.Get("kind"), DeviceID: q.Get("device_id")}
	for _, v := range q["status"] {
		for st := range strings.SplitSeq(v, ",") {
			st = strings.ToLower(strings.TrimSpace(st))
			switch store.AlertStatus(st) {
			case store.AlertNew, store.AlertAcknowledged, store.AlertResolved, store.AlertSuppressed:
				f.Status = appendNew(f.Status, store.AlertStatus(st))
			case "open":
				f.Status = appendNew(f.Status, store.AlertNew, store.AlertAcknowledged, store.AlertSuppressed)
			default:
				return badParam("status", "%q is not new, acknowledged, resolved, suppressed or open", st)
			}
		}
	}
	if v := q.Get("min_severity"); v != "" {
		if f.MinSeverity, err = parseSeverity("min_severity", v); err != nil {
			return err
		}
	}
	as, next, err := s.st.ListAlerts(r.Context(), f, p)
	if err != nil {
		return listErr("list alerts", err)
	}
	writeJSON(w, http.StatusOK, Page[Alert]{Items: mapSlice(as, AlertView), Next: next})
	return nil
}

func (s *server) getAlert(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := alertID(r)
	if err != nil {
		return err
	}
	a, err := s.st.GetAlert(r.Context(), id)
	if err != nil {
		return storeErr("alert "+strconv.FormatInt(id, 10), err)
	}
	writeJSON(w, http.StatusOK, AlertView(a))
	return nil
}

func (s *server) listRoster(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	es, err := s.st.ListRoster(r.Context())
	if err != nil {
		return storeErr("list roster", err)
	}
	page, err := pageOf(es, func(e store.RosterEntry) string { return e.Owner }, RosterEntryView, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *server) listAudit(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	es, next, err := s.st.ListAudit(r.Context(), p)
	if err != nil {
		return listErr("list audit", err)
	}
	writeJSON(w, http.StatusOK, Page[AuditEntry]{Items: mapSlice(es, AuditEntryView), Next: next})
	return nil
}

// alertID reads the numeric {id} path value.
func alertID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, &apiError{status: http.StatusBadRequest, reason: "invalid_parameter",
			msg: "path parameter id: " + strconv.Quote(v) + " is not an alert id (a positive whole number)"}
	}
	return id, nil
}

// parseSeverity reads a severity name into the store's number.
func parseSeverity(param, v string) (int, error) {
	sev, err := detectors.ParseSeverity(v)
	if err != nil {
		return 0, badParam(param, "%q is not info, low, medium, high or critical", v)
	}
	return int(sev), nil
}

func mapSlice[T, V any](in []T, f func(T) V) []V {
	out := make([]V, 0, len(in))
	for _, x := range in {
		out = append(out, f(x))
	}
	return out
}

func appendNew[T comparable](s []T, vs ...T) []T {
	for _, v := range vs {
		if !slices.Contains(s, v) {
			s = append(s, v)
		}
	}
	return s
}

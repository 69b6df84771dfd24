package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/store"
)

// maxSuppress is the longest an alert may be suppressed for.
const maxSuppress = 90 * 24 * time.Hour

// maxReason bounds a reason or note given in a request.
const maxReason = 1000

// actionNames are the audit actions of the alert transitions.
var actionNames = map[store.AlertStatus]string{
	store.AlertAcknowledged: "alert.ack",
	store.AlertResolved:     "alert.resolve",
	store.AlertSuppressed:   "alert.suppress",
	store.AlertNew:          "alert.unsuppress",
}

// transition says whether an alert in status from may move to to, and if
// not, why (the store's lifecycle: new→acknowledged,
// new|acknowledged→resolved, any open→suppressed, suppressed→new).
func transition(id int64, from, to store.AlertStatus) (ok bool, why string) {
	switch to {
	case store.AlertAcknowledged:
		if from == store.AlertNew {
			return true, ""
		}
		return false, fmt.Sprintf("alert %d is %s; only a new alert can be acknowledged", id, from)
	case store.AlertResolved:
		if from == store.AlertNew || from == store.AlertAcknowledged {
			return true, ""
		}
		if from == store.AlertSuppressed {
			return false, fmt.Sprintf("alert %d is suppressed; unsuppress it before resolving it", id)
		}
		return false, fmt.Sprintf("alert %d is already %s", id, from)
	case store.AlertSuppressed:
		if from != store.AlertResolved {
			return true, ""
		}
		return false, fmt.Sprintf("alert %d is resolved; only an open alert can be suppressed", id)
	case store.AlertNew:
		if from == store.AlertSuppressed {
			return true, ""
		}
		return false, fmt.Sprintf("alert %d is %s; only a suppressed alert can be unsuppressed", id, from)
	}
	return false, fmt.Sprintf("unknown alert status %q", to)
}

// alertAction serves POST /alerts/{id}/{ack,resolve,suppress,unsuppress}.
// ack, resolve and unsuppress take an optional {"reason"}; suppress needs
// {"reason", "until"} with until in the future and at most 90 days away.
func (s *server) alertAction(to store.AlertStatus) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller) error {
		id, err := alertID(r)
		if err != nil {
			return err
		}
		now := s.now()
		var (
			reason string
			until  time.Time
		)
		if to == store.AlertSuppressed {
			var body struct {
				Reason string `json:"reason"`
				Until  string `json:"until"`
			}
			if err := decodeBody(w, r, &body, false); err != nil {
				return err
			}
			if reason, err = reasonField("reason", body.Reason, true); err != nil {
				return err
			}
			if body.Until == "" {
				return badBody("until is required: when the suppression ends (RFC 3339)")
			}
			if until, err = time.Parse(time.RFC3339, body.Until); err != nil {
				return badBody("until: %q is not an RFC 3339 time (2026-12-01T00:00:00Z)", body.Until)
			}
			until = until.UTC()
			if !until.After(now) {
				return badBody("until: %s is not in the future", body.Until)
			}
			if until.Sub(now) > maxSuppress {
				return badBody("until: %s is more than 90 days away", body.Until)
			}
		} else {
			var body struct {
				Reason string `json:"reason"`
			}
			if err := decodeBody(w, r, &body, true); err != nil {
				return err
			}
			if reason, err = reasonField("reason", body.Reason, false); err != nil {
				return err
			}
		}

		a, err := s.st.GetAlert(r.Context(), id)
		if err != nil {
			return storeErr(fmt.Sprintf("alert %d", id), err)
		}
		if ok, why := transition(id, a.Status, to); !ok {
			return conflict("invalid_transition", "%s", why)
		}
		detail := reason
		if to == store.AlertSuppressed {
			detail = "until " + until.Format(time.RFC3339) + ": " + reason
		}
		audit := store.AuditEntry{
			At:     now.UTC(),
			Actor:  c.name(),
			Action: actionNames[to],
			Target: fmt.Sprintf("alert:%d", id),
			Detail: detail,
		}
		a, err = s.st.SetAlertStatus(r.Context(), id, to, reason, until, audit)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound("alert %d not found", id)
			}
			// Someone else may have moved the alert meanwhile.
			if cur, gerr := s.st.GetAlert(r.Context(), id); gerr == nil {
				if ok, why := transition(id, cur.Status, to); !ok {
					return conflict("invalid_transition", "%s", why)
				}
			}
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalid) {
				return conflict("invalid_transition", "%v", err)
			}
			return fmt.Errorf("set alert %d %s: %w", id, to, err)
		}
		s.log.Info("alert status changed", zap.String("actor", c.name()), zap.Int64("alert", id),
			zap.String("action", audit.Action), zap.String("status", string(a.Status)))
		writeJSON(w, http.StatusOK, AlertView(a))
		return nil
	}
}

// reasonField checks a free-text field of a body.
func reasonField(name, v string, required bool) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" && required {
		return "", badBody("%s is required", name)
	}
	if len(v) > maxReason {
		return "", badBody("%s: longer than %d bytes", name, maxReason)
	}
	return v, nil
}

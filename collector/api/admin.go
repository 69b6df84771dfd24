package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/store"
)

// Limits of what an admin may ask for.
const (
	defaultTokenTTL = 24 * time.Hour
	maxTokenTTL     = 365 * 24 * time.Hour
	maxTokenUses    = 100000
)

// userName is what a user name may be: it must survive HTTP Basic (no
// colon) and audit lines (no spaces).
var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// audit records a state change, after the change. The change is done
// either way, so a failure to record it is logged loudly and answered 500.
func (s *server) audit(ctx context.Context, c *caller, action, target, detail string) error {
	e := store.AuditEntry{At: s.now().UTC(), Actor: c.name(), Action: action, Target: target, Detail: detail}
	if err := s.st.AddAudit(ctx, e); err != nil {
		s.log.Error("audit entry not written", zap.String("actor", e.Actor), zap.String("action", action),
			zap.String("target", target), zap.String("detail", detail), zap.Error(err))
		return fmt.Errorf("write audit entry: %w", err)
	}
	s.log.Info("api change", zap.String("actor", e.Actor), zap.String("action", action),
		zap.String("target", target), zap.String("detail", detail))
	return nil
}

func (s *server) revokeDevice(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	reason, err := reasonField("reason", body.Reason, true)
	if err != nil {
		return err
	}
	d, err := s.st.GetDevice(r.Context(), id)
	if err != nil {
		return storeErr("device "+id, err)
	}
	if d.Revoked {
		return conflict("already_revoked", "device %s was revoked at %s", id, d.RevokedAt.UTC().Format(time.RFC3339))
	}
	if err := s.st.RevokeDevice(r.Context(), id, reason, s.now().UTC()); err != nil {
		return storeErr("revoke device "+id, err)
	}
	if err := s.audit(r.Context(), c, "device.revoke", "device:"+id, reason); err != nil {
		return err
	}
	if d, err = s.st.GetDevice(r.Context(), id); err != nil {
		return storeErr("device "+id, err)
	}
	writeJSON(w, http.StatusOK, DeviceView(d))
	return nil
}

func (s *server) listEnrollTokens(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	ts, err := s.st.ListTokens(r.Context())
	if err != nil {
		return storeErr("list enrollment tokens", err)
	}
	// Oldest first; the key sorts as the creation time does.
	key := func(t store.EnrollToken) string {
		return fmt.Sprintf("%020d/%s", t.CreatedAt.UnixMicro(), t.ID)
	}
	page, err := pageOf(ts, key, EnrollTokenView, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *server) createEnrollToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var body struct {
		ExpiresIn string `json:"expires_in"`
		MaxUses   *int   `json:"max_uses"`
		Owner     string `json:"owner"`
		Note      string `json:"note"`
	}
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	ttl := defaultTokenTTL
	if body.ExpiresIn != "" {
		d, err := parseDuration(body.ExpiresIn)
		if err != nil || d < time.Minute || d > maxTokenTTL {
			return badBody("expires_in: %q is not a duration from 1m to 365d (24h, 7d)", body.ExpiresIn)
		}
		ttl = d
	}
	uses := 1
	if body.MaxUses != nil {
		uses = *body.MaxUses
		if uses < 1 || uses > maxTokenUses {
			return badBody("max_uses: %d is not from 1 to %d", uses, maxTokenUses)
		}
	}
	owner, err := reasonField("owner", body.Owner, false)
	if err != nil {
		return err
	}
	note, err := reasonField("note", body.Note, false)
	if err != nil {
		return err
	}
	tok, id, hash, err := auth.NewSecret(auth.EnrollPrefix)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	t := store.EnrollToken{
		ID:         id,
		SecretHash: hash,
		CreatedAt:  now,
		ExpiresAt:  now.Add(ttl),
		MaxUses:    uses,
		CreatedBy:  c.name(),
		Owner:      owner,
		Note:       note,
	}
	if err := s.st.CreateToken(r.Context(), t); err != nil {
		return storeErr("create enrollment token", err)
	}
	// The same action, target and detail as `farmwatch-collector token create`.
	detail := fmt.Sprintf("uses=%d expires=%s owner=%s", uses, t.ExpiresAt.Format(time.RFC3339), owner)
	if err := s.audit(r.Context(), c, "token.create", "token:"+id, detail); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, NewEnrollToken{EnrollToken: EnrollTokenView(t), Token: tok})
	return nil
}

func (s *server) revokeEnrollToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ts, err := s.st.ListTokens(r.Context())
	if err != nil {
		return storeErr("list enrollment tokens", err)
	}
	i := slices.IndexFunc(ts, func(t store.EnrollToken) bool { return t.ID == id })
	if i < 0 {
		return notFound("enrollment token %s not found", id)
	}
	if !ts[i].Revoked { // revoking twice changes nothing
		if err := s.st.RevokeToken(r.Context(), id, s.now().UTC()); err != nil {
			return storeErr("revoke enrollment token "+id, err)
		}
		if err := s.audit(r.Context(), c, "token.revoke", "token:"+id, ""); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request, _ *caller) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	us, err := s.st.ListUsers(r.Context())
	if err != nil {
		return storeErr("list users", err)
	}
	page, err := pageOf(us, func(u store.User) string { return u.Name }, UserView, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	var body struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if !userName.MatchString(body.Name) {
		return badBody("name: %q is not a user name (1 to 64 letters, digits and . _ @ -, starting with a letter or digit)", body.Name)
	}
	role, err := auth.ParseRole(body.Role)
	if err != nil {
		return badBody("role: %v", err)
	}
	pw, err := auth.NewPassword()
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	u := store.User{Name: body.Name, Role: role, PasswordHash: hash, CreatedAt: s.now().UTC(), MustChangePassword: true}
	if err := s.st.CreateUser(r.Context(), u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("user_exists", "user %s already exists", body.Name)
		}
		return storeErr("create user "+body.Name, err)
	}
	if err := s.audit(r.Context(), c, "user.add", "user:"+u.Name, "role="+string(role)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, NewUser{User: UserView(u), Password: pw})
	return nil
}

func (s *server) createAPIToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var body struct {
		User string `json:"user"`
		Note string `json:"note"`
	}
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	note, err := reasonField("note", body.Note, false)
	if err != nil {
		return err
	}
	owner := c.name()
	if body.User != "" && body.User != owner {
		if !c.is(store.RoleAdmin) {
			return forbidden("forbidden", "only an admin may create an API token for another user")
		}
		if _, err := s.st.GetUser(r.Context(), body.User); err != nil {
			return storeErr("user "+body.User, err)
		}
		owner = body.User
	}
	tok, id, hash, err := auth.NewSecret(auth.APIPrefix)
	if err != nil {
		return err
	}
	t := store.APIToken{ID: id, User: owner, SecretHash: hash, CreatedAt: s.now().UTC(), Note: note}
	if err := s.st.CreateAPIToken(r.Context(), t); err != nil {
		return storeErr("create API token", err)
	}
	if err := s.audit(r.Context(), c, "api_token.create", "api_token:"+id, "user="+owner); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, NewAPIToken{APIToken: APITokenView(t), Token: tok})
	return nil
}

func (s *server) revokeAPIToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := s.st.GetAPIToken(r.Context(), id)
	if err != nil {
		return storeErr("API token "+id, err)
	}
	if t.User != c.name() && !c.is(store.RoleAdmin) {
		return forbidden("forbidden", "API token %s is not yours; only an admin may revoke another user's token", id)
	}
	detail := "user=" + t.User
	if err := s.st.RevokeAPIToken(r.Context(), id); err != nil {
		return storeErr("API token "+id, err)
	}
	if err := s.audit(r.Context(), c, "api_token.revoke", "api_token:"+id, detail); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request, c *caller) error {
	var body struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Current == "" || body.New == "" {
		return badBody("current_password and new_password are required")
	}
	if len(c.user.PasswordHash) == 0 || !auth.CheckPassword(c.user.PasswordHash, body.Current) {
		ip := remoteIP(r)
		s.limiter.fail(ip)
		s.metrics.authFailure("bad_password")
		s.log.Warn("api password change refused: wrong current password", zap.String("user", c.name()), zap.String("ip", ip))
		return forbidden("wrong_password", "current_password is wrong")
	}
	if body.New == body.Current {
		return badBody("new_password: must differ from the current password")
	}
	hash, err := auth.HashPassword(body.New)
	if err != nil {
		return badBody("new_password: %s", strings.TrimPrefix(err.Error(), "password: "))
	}
	if err := s.st.SetUserPassword(r.Context(), c.name(), hash, false); err != nil {
		return storeErr("user "+c.name(), err)
	}
	if err := s.audit(r.Context(), c, "user.password", "user:"+c.name(), ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pageOf pages a listing the store returns whole: items sorted by key,
// the cursor being the last key of the page (opaque to clients).
func pageOf[T, V any](items []T, key func(T) string, view func(T) V, p store.Page) (Page[V], error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	slices.SortFunc(items, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	start := 0
	if p.After != "" {
		after, err := base64.RawURLEncoding.DecodeString(p.After)
		if err != nil {
			return Page[V]{}, badParam("after", "not a cursor this listing returned")
		}
		start, _ = slices.BinarySearchFunc(items, string(after), func(t T, k string) int { return cmp.Compare(key(t), k) })
		for start < len(items) && key(items[start]) == string(after) {
			start++
		}
	}
	end := min(start+limit, len(items))
	out := Page[V]{Items: mapSlice(items[start:end], view)}
	if end < len(items) {
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return out, nil
}

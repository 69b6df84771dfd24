package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/store"
)

// caller is an authenticated user.
type caller struct {
	user store.User
	// tokenID is the API token the request carried; "" with a password.
	tokenID string
}

func (c *caller) name() string { return c.user.Name }

func (c *caller) is(role store.Role) bool { return auth.Allows(c.user.Role, role) }

// authorize authenticates the request and checks the caller may call rt.
func (s *server) authorize(r *http.Request, rt route) (*caller, error) {
	ip := remoteIP(r)
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		s.metrics.authFailure("missing")
		return nil, &apiError{status: http.StatusUnauthorized, reason: "unauthenticated",
			msg: "authentication required: an API token (Authorization: Bearer fwa_…) or a user name and password (HTTP Basic)"}
	}
	if wait := s.limiter.blocked(ip); wait > 0 {
		s.metrics.authFailure("rate_limited")
		s.log.Warn("api login refused: too many failed logins from this address", zap.String("ip", ip))
		return nil, &apiError{status: http.StatusTooManyRequests, reason: "too_many_failed_logins",
			msg: "too many failed logins from your address; try again later", retryAfter: wait}
	}

	var (
		c      *caller
		reason string
		who    []zap.Field
		err    error
	)
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		tok := strings.TrimSpace(cred)
		if id, e := auth.TokenID(tok); e == nil {
			who = append(who, zap.String("token_id", id))
		}
		c, reason, err = s.tokenCaller(r.Context(), tok)
	case strings.EqualFold(scheme, "Basic"):
		name, pw, ok := r.BasicAuth()
		if !ok {
			reason = "malformed"
			break
		}
		who = append(who, zap.String("user", name))
		c, reason, err = s.passwordCaller(r.Context(), name, pw)
	default:
		reason = "bad_scheme"
	}
	if err != nil {
		return nil, err
	}
	if c == nil {
		s.limiter.fail(ip)
		s.metrics.authFailure(reason)
		s.log.Warn("api login failed", append(who, zap.String("ip", ip), zap.String("reason", reason),
			zap.String("method", r.Method), zap.String("path", r.URL.Path))...)
		return nil, &apiError{status: http.StatusUnauthorized, reason: "unauthenticated", msg: "invalid credentials"}
	}
	// A one-time password only opens the password change; an API token
	// (the CLI's `user add` issues one with the password) is its own
	// credential.
	if c.tokenID == "" && c.user.MustChangePassword && !rt.pending {
		s.metrics.authFailure("password_change_required")
		return nil, forbidden("password_change_required",
			"user %s must change the one-time password first: POST %s/me/password", c.name(), Prefix)
	}
	if !c.is(rt.need) {
		s.metrics.authFailure("forbidden")
		return nil, forbidden("forbidden", "%s %s needs the %s role; user %s is %s",
			rt.method, Prefix+rt.path, rt.need, c.name(), c.user.Role)
	}
	return c, nil
}

// tokenCaller authenticates an API token. A refusal is a nil caller and a
// reason; err is a store fault.
func (s *server) tokenCaller(ctx context.Context, tok string) (*caller, string, error) {
	if !strings.HasPrefix(tok, auth.APIPrefix) {
		return nil, "bad_token", nil
	}
	t, err := s.st.LookupAPIToken(ctx, auth.HashSecret(tok))
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Revoked) {
		return nil, "bad_token", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("look up API token: %w", err)
	}
	u, err := s.st.GetUser(ctx, t.User)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "bad_token", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("get user %s: %w", t.User, err)
	}
	return &caller{user: u, tokenID: t.ID}, "", nil
}

// passwordCaller authenticates a user name and password.
func (s *server) passwordCaller(ctx context.Context, name, pw string) (*caller, string, error) {
	u, err := s.st.GetUser(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the time a real check takes, so timing does not tell
		// which user names exist.
		auth.CheckPassword(dummyHash(), pw)
		return nil, "bad_password", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("get user %s: %w", name, err)
	}
	if len(u.PasswordHash) == 0 || !auth.CheckPassword(u.PasswordHash, pw) {
		return nil, "bad_password", nil
	}
	return &caller{user: u}, "", nil
}

var dummyHash = sync.OnceValue(func() []byte {
	h, _ := auth.HashPassword("farmwatch-no-such-user")
	return h
})

// remoteIP is the address the connection came from. Forwarded headers are
// not trusted: behind a proxy, every client shares the proxy's budget.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Failed logins per remote address: a token bucket of loginBurst failures
// that refills one every loginRefill. An address with an empty bucket is
// refused (429) before its credentials are checked.
const (
	loginBurst   = 10
	loginRefill  = 6 * time.Second
	loginMaxKeys = 10000
)

type loginLimiter struct {
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, buckets: map[string]*bucket{}}
}

// refill brings b up to now.
func (b *bucket) refill(now time.Time) {
	if now.After(b.at) {
		b.tokens += float64(now.Sub(b.at)) / float64(loginRefill)
		if b.tokens > loginBurst {
			b.tokens = loginBurst
		}
		b.at = now
	}
}

// blocked returns how long ip must wait before its next attempt; 0 when
// it may try now.
func (l *loginLimiter) blocked(ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		return 0
	}
	b.refill(l.now())
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(loginRefill))
}

// fail spends one token of ip's bucket.
func (l *loginLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= loginMaxKeys {
			l.prune(now)
		}
		b = &bucket{tokens: loginBurst, at: now}
		l.buckets[ip] = b
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
	} else {
		b.tokens = 0
	}
}

// prune forgets addresses whose bucket has refilled, and, if that is not
// enough (an attack from many addresses), every address.
func (l *loginLimiter) prune(now time.Time) {
	for ip, b := range l.buckets {
		b.refill(now)
		if b.tokens >= loginBurst {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= loginMaxKeys {
		clear(l.buckets)
	}
}

package api

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/store"
)

var unique atomic.Int64

// call is one request of the role matrix, prepared on a fresh target.
type call struct {
	method, path string
	body         any
	// self, when set, authenticates with this token instead of the
	// role's usual one.
	self string
}

// TestRoleMatrix calls every state-changing route, and the admin-only
// reads, as each role: at or above the route's role it succeeds, below it
// is a 403 that changes nothing.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	newAlert := func() int64 {
		return e.addAlert(fmt.Sprintf("matrix:%d", unique.Add(1)), 2).ID
	}
	until := e.now.Add(time.Hour).Format(time.RFC3339)
	cases := []struct {
		name  string
		need  store.Role
		setup func(role store.Role) call
	}{
		{"ack", store.RoleAnalyst, func(store.Role) call {
			return call{method: "POST", path: "/alerts/" + itoa(newAlert()) + "/ack"}
		}},
		{"resolve", store.RoleAnalyst, func(store.Role) call {
			return call{method: "POST", path: "/alerts/" + itoa(newAlert()) + "/resolve", body: map[string]string{"reason": "done"}}
		}},
		{"suppress", store.RoleAnalyst, func(store.Role) call {
			return call{method: "POST", path: "/alerts/" + itoa(newAlert()) + "/suppress", body: map[string]string{"reason": "lab", "until": until}}
		}},
		{"unsuppress", store.RoleAnalyst, func(store.Role) call {
			id := newAlert()
			if _, err := e.st.SetAlertStatus(e.ctx, id, store.AlertSuppressed, "lab", e.now.Add(time.Hour),
				store.AuditEntry{At: e.now, Actor: "setup", Action: "alert.suppress", Target: "alert:" + itoa(id)}); err != nil {
				t.Fatal(err)
			}
			return call{method: "POST", path: "/alerts/" + itoa(id) + "/unsuppress"}
		}},
		{"revoke device", store.RoleAdmin, func(store.Role) call {
			d := e.addDevice("alice", "LT-matrix")
			return call{method: "POST", path: "/devices/" + d.ID + "/revoke", body: map[string]string{"reason": "stolen"}}
		}},
		{"create enroll token", store.RoleAdmin, func(store.Role) call {
			return call{method: "POST", path: "/enroll-tokens", body: map[string]any{"max_uses": 2}}
		}},
		{"revoke enroll token", store.RoleAdmin, func(store.Role) call {
			_, id, hash, _ := auth.NewSecret(auth.EnrollPrefix)
			if err := e.st.CreateToken(e.ctx, store.EnrollToken{ID: id, SecretHash: hash, CreatedAt: e.now, ExpiresAt: e.now.Add(time.Hour), MaxUses: 1}); err != nil {
				t.Fatal(err)
			}
			return call{method: "DELETE", path: "/enroll-tokens/" + id}
		}},
		{"create user", store.RoleAdmin, func(store.Role) call {
			return call{method: "POST", path: "/users", body: map[string]string{"name": fmt.Sprintf("u%d", unique.Add(1)), "role": "viewer"}}
		}},
		{"create own API token", store.RoleViewer, func(store.Role) call {
			return call{method: "POST", path: "/api-tokens", body: map[string]string{"note": "mine"}}
		}},
		{"create API token for another", store.RoleAdmin, func(role store.Role) call {
			other := store.RoleViewer
			if role == store.RoleViewer {
				other = store.RoleAnalyst
			}
			return call{method: "POST", path: "/api-tokens", body: map[string]string{"user": string(other)}}
		}},
		{"revoke own API token", store.RoleViewer, func(role store.Role) call {
			tok := e.addToken(string(role))
			id, _ := auth.TokenID(tok)
			return call{method: "DELETE", path: "/api-tokens/" + id, self: tok}
		}},
		{"revoke another's API token", store.RoleAdmin, func(role store.Role) call {
			other := store.RoleViewer
			if role == store.RoleViewer {
				other = store.RoleAnalyst
			}
			id, _ := auth.TokenID(e.addToken(string(other)))
			return call{method: "DELETE", path: "/api-tokens/" + id}
		}},
		{"list users", store.RoleAdmin, func(store.Role) call { return call{method: "GET", path: "/users"} }},
		{"list audit", store.RoleAdmin, func(store.Role) call { return call{method: "GET", path: "/audit"} }},
		{"list enroll tokens", store.RoleAdmin, func(store.Role) call { return call{method: "GET", path: "/enroll-tokens"} }},
	}
	for _, tc := range cases {
		for _, role := range []store.Role{store.RoleViewer, store.RoleAnalyst, store.RoleAdmin} {
			t.Run(tc.name+"/"+string(role), func(t *testing.T) {
				c := tc.setup(role)
				before := len(e.audits())
				opts := []func(*http.Request){bearer(e.token[role])}
				if c.self != "" {
					opts = []func(*http.Request){bearer(c.self)}
				}
				r := e.req(c.method, c.path, c.body, opts...)
				after := len(e.audits())
				if auth.Allows(role, tc.need) {
					if r.StatusCode < 200 || r.StatusCode > 299 {
						t.Fatalf("%s %s as %s: %s, want 2xx", c.method, c.path, role, r)
					}
					if c.method != "GET" && after != before+1 {
						t.Errorf("%d audit entries written, want 1", after-before)
					}
					return
				}
				want(t, r, 403)
				if _, reason := r.apiErr(t); reason != "forbidden" {
					t.Errorf("reason %q", reason)
				}
				if after != before {
					t.Errorf("a refused call wrote %d audit entries", after-before)
				}
			})
		}
	}
}

// Package auth holds the collector's secrets handling: enrollment and API
// token secrets (random, shown once, stored as SHA-256), user passwords
// (bcrypt), and the role order (viewer < analyst < admin).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/farmwatch/farmwatch/collector/store"
)

// Token prefixes make a leaked secret recognisable (secret scanners) and
// tell the two kinds apart.
const (
	EnrollPrefix = "fwe_"
	APIPrefix    = "fwa_"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a token (prefix, a 10-character id, "_", a 32-character
// secret), its id and the hash to store.
func NewSecret(prefix string) (token, id string, hash []byte, err error) {
	buf := make([]byte, 26)
	if _, err := rand.Read(buf); err != nil {
		return "", "", nil, fmt.Errorf("token: %w", err)
	}
	s := strings.ToLower(b32.EncodeToString(buf)) // 42 chars
	id, secret := s[:10], s[10:]
	token = prefix + id + "_" + secret
	return token, id, HashSecret(token), nil
}

// HashSecret is the stored form of a token.
func HashSecret(token string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return h[:]
}

// TokenID extracts the public id part of a token, for messages and logs.
func TokenID(token string) (string, error) {
	for _, p := range []string{EnrollPrefix, APIPrefix} {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(token), p); ok {
			if id, _, ok := strings.Cut(rest, "_"); ok && len(id) == 10 {
				return id, nil
			}
		}
	}
	return "", errors.New("not a farmwatch token")
}

// NewPassword returns a random one-time password.
func NewPassword() (string, error) {
	buf := make([]byte, 15)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return strings.ToLower(b32.EncodeToString(buf)), nil
}

// HashPassword hashes a password with bcrypt.
func HashPassword(pw string) ([]byte, error) {
	if len(pw) < 12 {
		return nil, errors.New("password: at least 12 characters")
	}
	return bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
}

// CheckPassword reports whether pw matches hash.
func CheckPassword(hash []byte, pw string) bool {
	return bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
}

var roleRank = map[store.Role]int{store.RoleViewer: 1, store.RoleAnalyst: 2, store.RoleAdmin: 3}

// ParseRole validates a role name.
func ParseRole(s string) (store.Role, error) {
	r := store.Role(strings.ToLower(strings.TrimSpace(s)))
	if roleRank[r] == 0 {
		return "", fmt.Errorf("unknown role %q (viewer, analyst or admin)", s)
	}
	return r, nil
}

// Allows reports whether a user of role has at least role need.
func Allows(role, need store.Role) bool {
	return roleRank[role] > 0 && roleRank[role] >= roleRank[need]
}

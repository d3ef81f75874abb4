package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// API tokens are "chartroom_<id>_<secret>": the prefix tells a token from a password without
// a bcrypt run, the id (tok-<10 characters>) is public and names the token in listings, grants
// and the audit log, the secret is 32 random bytes (base64url). Only the secret's SHA-256 is
// stored: a 256-bit random secret cannot be guessed or found from its hash by trying
// candidates, which is what a slow password hash (bcrypt) protects against, so checking a
// token costs a hash and a constant-time comparison, not a bcrypt run.

// TokenPrefix starts every API token (and no password: user passwords may not start with it).
const TokenPrefix = "chartroom_"

const (
	tokenIDPrefix  = "tok-"
	tokenIDLength  = len(tokenIDPrefix) + 10
	secretBytes    = 32
	secretLength   = 43 // base64url of secretBytes, unpadded
	maxTokenLength = len(TokenPrefix) + tokenIDLength + 1 + secretLength
)

var (
	tokenIDPattern = regexp.MustCompile(`^tok-[a-z2-7]{10}$`)
	idEncoding     = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
)

// IsTokenID reports whether s has the form of a token id (tok-…).
func IsTokenID(s string) bool { return tokenIDPattern.MatchString(s) }

// NewToken makes a token: its id, the token as its user is to be shown it (once), and the
// hash to store.
func NewToken() (id, token string, hash []byte, err error) {
	var idb [7]byte
	var secret [secretBytes]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", nil, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", nil, err
	}
	id = tokenIDPrefix + idEncoding.EncodeToString(idb[:])[:10]
	s := base64.RawURLEncoding.EncodeToString(secret[:])
	h := hashSecret(s)
	return id, TokenPrefix + id + "_" + s, h[:], nil
}

// parseToken splits a token into its id and secret; ok is false when s is not shaped as one.
func parseToken(s string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(s, TokenPrefix)
	if !found || len(s) != maxTokenLength || rest[tokenIDLength] != '_' {
		return "", "", false
	}
	id, secret = rest[:tokenIDLength], rest[tokenIDLength+1:]
	return id, secret, IsTokenID(id)
}

func hashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// errBadToken is the answer to every token that is not valid: the same whatever is wrong,
// unless the caller proved it holds the token's secret.
var errBadToken = fmt.Errorf("%w: unknown user or wrong password (an API token is used with the user name it was created for)", ErrUnauthenticated)

// checkToken verifies a token sent as the password of user. It tells why a token is refused
// (expired, revoked) only to a caller who sent its right secret.
func (st *state) checkToken(user, id, secret string, now time.Time) (Principal, error) {
	t := st.tokens[id]
	h := hashSecret(secret)
	want := dummyTokenHash[:]
	if t != nil {
		want = t.hash
	}
	if subtle.ConstantTimeCompare(h[:], want) != 1 || t == nil || subtle.ConstantTimeCompare([]byte(user), []byte(t.user)) != 1 {
		return Principal{}, errBadToken
	}
	switch {
	case t.revoked:
		return Principal{}, fmt.Errorf("%w: API token %s was revoked: create a new one (chartroom token create)", ErrUnauthenticated, id)
	case !t.expires.IsZero() && !now.Before(t.expires):
		return Principal{}, fmt.Errorf("%w: API token %s expired at %s: create a new one (chartroom token create)", ErrUnauthenticated, id, t.expires.UTC().Format(time.RFC3339))
	case st.users[t.user] == nil:
		return Principal{}, errBadToken
	}
	return Principal{Name: t.user, TokenID: id}, nil
}

// dummyTokenHash is compared against for unknown token ids, so they take as long as known ones.
var dummyTokenHash = sha256.Sum256([]byte("no such token"))

// ValidateUserName checks a new user's name: 1 to 64 letters, digits, and . _ @ - (not first),
// not shaped as a token id.
func ValidateUserName(name string) error {
	switch {
	case !userNamePattern.MatchString(name):
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits, and . _ @ - after the first character", name)
	case strings.HasPrefix(strings.ToLower(name), tokenIDPrefix):
		return fmt.Errorf("user name %q: names starting with %q are API token ids", name, tokenIDPrefix)
	}
	return nil
}

var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidatePassword checks a new password: at least MinPasswordLength characters, at most 72
// bytes (bcrypt reads no more), not starting with TokenPrefix.
func ValidatePassword(pw string) error {
	switch {
	case len([]rune(pw)) < MinPasswordLength:
		return fmt.Errorf("the password has %d characters: use at least %d", len([]rune(pw)), MinPasswordLength)
	case len(pw) > 72:
		return errors.New("the password has more than 72 bytes, which bcrypt cannot use: choose a shorter one")
	case strings.HasPrefix(pw, TokenPrefix):
		return fmt.Errorf("passwords may not start with %q, which marks API tokens", TokenPrefix)
	}
	return nil
}

// MinPasswordLength is the shortest password accepted for a new user or a changed password.
const MinPasswordLength = 8

package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Web sessions (the web UI's sign-in) are cookies the server signs: no table holds them, so
// every replica sharing the database accepts what any replica issued. A session carries its
// user's name, its expiry and a fingerprint of the user's password hash, MACed (HMAC-SHA256)
// with a key derived from the signing key of registry tokens (kept in the database, see
// regtoken.go). So:
//   - a changed password or a deleted user ends the user's sessions at once (the fingerprint
//     or the user no longer matches the authorization state);
//   - `chartroom token-keys rotate` ends every session (only the key that signs now verifies);
//   - what a session may do is decided at each request by Check on the user's CURRENT grants:
//     a revoked grant applies at once.
//
// A session stands for the user as a password would: it is issued only for a password
// (SignIn refuses API tokens, registry tokens and OIDC ID tokens, whose rights are narrower
// than their user's).

// DefaultSessionTTL is how long a web session lasts when SessionOptions says nothing.
const DefaultSessionTTL = 12 * time.Hour

// sessionVersion prefixes every session value (a later format gets another).
const sessionVersion = "s1"

// maxSessionLength bounds a session value read from a cookie: a real one is far smaller.
const maxSessionLength = 1024

// ErrBadSession: the session cookie is not one this server issued, has expired, or its user
// or password changed since; sign in again.
var ErrBadSession = fmt.Errorf("%w: the session is not valid (expired, signed out, or the password changed): sign in again", ErrUnauthenticated)

type sessionClaims struct {
	User    string `json:"u"`
	Expires int64  `json:"e"` // Unix seconds
	Pass    string `json:"p"` // fingerprint of the user's password hash
	Nonce   string `json:"n"`
}

// SignIn checks a user's password as Authenticate checks Basic credentials (bcrypt in one of
// the bounded slots, the failed sign-in throttle per user and address of r), for the web UI's
// sign-in form. API tokens and ID tokens are refused: a session stands for its user's password.
// Errors are ErrUnauthenticated or ErrThrottled (a *ThrottledError saying when to retry).
func (s *Service) SignIn(r *http.Request, user, pass string) (Principal, error) {
	if user == "" || pass == "" {
		return Principal{}, fmt.Errorf("%w: give a user name and a password", ErrUnauthenticated)
	}
	if _, _, isToken := parseToken(pass); isToken || looksLikeJWT(pass) {
		return Principal{}, fmt.Errorf("%w: sign in with your password: API tokens and ID tokens are for clients (helm, oras, curl), not for the web UI", ErrUnauthenticated)
	}
	c := r.Clone(r.Context())
	c.Header = http.Header{}
	c.SetBasicAuth(user, pass)
	p, err := s.Authenticate(c)
	if err != nil {
		return Principal{}, err
	}
	if p.Anonymous || p.TokenID != "" || p.OIDC != nil || p.limit != nil || p.Name != user {
		return Principal{}, fmt.Errorf("%w: unknown user or wrong password", ErrUnauthenticated)
	}
	return p, nil
}

// sessionKey is the MAC key of sessions signed with the registry token key kid; nil when the
// keyring has no such signing (not retired) key.
func (s *Service) sessionKey(ctx context.Context, kid string) ([]byte, string, error) {
	kr, err := s.keyring(ctx, false)
	if err != nil {
		return nil, "", err
	}
	if kid == "" && kr.signer == nil || kid != "" && (kr.signer == nil || kr.signer.id != kid) {
		if kr, err = s.keyring(ctx, true); err != nil {
			return nil, "", err
		}
	}
	k := kr.signer
	if k == nil {
		return nil, "", errors.New("no key signs registry tokens: restart chartroom serve or run chartroom token-keys rotate")
	}
	if kid != "" && k.id != kid {
		return nil, "", nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	h.Write([]byte("chartroom web session key\x00"))
	h.Write(der)
	return h.Sum(nil), k.id, nil
}

// passFingerprint identifies a password hash without revealing it.
func passFingerprint(hash []byte) string {
	h := sha256.Sum256(append([]byte("chartroom session password\x00"), hash...))
	return base64.RawURLEncoding.EncodeToString(h[:12])
}

func sessionMAC(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, ".")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// NewSession issues a session for user p (from SignIn) valid for ttl (0: DefaultSessionTTL);
// it returns the cookie value and when it expires.
func (s *Service) NewSession(ctx context.Context, p Principal, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	st := s.current()
	u := st.users[p.Name]
	if u == nil || p.Anonymous || p.TokenID != "" || p.OIDC != nil {
		return "", time.Time{}, fmt.Errorf("%w: only a user who signed in with a password gets a session", ErrUnauthenticated)
	}
	key, kid, err := s.sessionKey(ctx, "")
	if err != nil {
		return "", time.Time{}, err
	}
	var nonce [9]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", time.Time{}, err
	}
	exp := time.Now().Add(ttl).Truncate(time.Second)
	body, err := json.Marshal(sessionClaims{User: u.name, Expires: exp.Unix(), Pass: passFingerprint(u.hash), Nonce: base64.RawURLEncoding.EncodeToString(nonce[:])})
	if err != nil {
		return "", time.Time{}, err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return strings.Join([]string{sessionVersion, kid, payload, sessionMAC(key, sessionVersion, kid, payload)}, "."), exp, nil
}

// Session returns the user a session cookie value stands for, checked against the current
// authorization state: ErrBadSession when it is not valid (forged, expired, signed with a key
// rotated away, its user deleted or their password changed since).
func (s *Service) Session(ctx context.Context, raw string) (Principal, error) {
	claims, _, err := s.checkSession(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	st := s.current()
	u := st.users[claims.User]
	if u == nil || !hmac.Equal([]byte(passFingerprint(u.hash)), []byte(claims.Pass)) {
		st = s.fresher()
		if u = st.users[claims.User]; u == nil || !hmac.Equal([]byte(passFingerprint(u.hash)), []byte(claims.Pass)) {
			return Principal{}, ErrBadSession
		}
	}
	return Principal{Name: u.name}, nil
}

// checkSession verifies a session value's MAC and expiry.
func (s *Service) checkSession(ctx context.Context, raw string) (*sessionClaims, []byte, error) {
	if len(raw) > maxSessionLength {
		return nil, nil, ErrBadSession
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 4 || parts[0] != sessionVersion || parts[1] == "" {
		return nil, nil, ErrBadSession
	}
	key, _, err := s.sessionKey(ctx, parts[1])
	if err != nil {
		return nil, nil, err
	}
	if key == nil || !hmac.Equal([]byte(sessionMAC(key, parts[0], parts[1], parts[2])), []byte(parts[3])) {
		return nil, nil, ErrBadSession
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, nil, ErrBadSession
	}
	var c sessionClaims
	if err := json.Unmarshal(body, &c); err != nil || c.User == "" {
		return nil, nil, ErrBadSession
	}
	if time.Now().Unix() >= c.Expires {
		return nil, nil, ErrBadSession
	}
	return &c, key, nil
}

// SessionCSRF returns the CSRF token bound to a session value: what every form of the
// session carries and every POST of it must send back. "" when the session is not valid.
func (s *Service) SessionCSRF(ctx context.Context, raw string) string {
	_, key, err := s.checkSession(ctx, raw)
	if err != nil {
		return ""
	}
	return sessionMAC(key, "csrf", raw)
}

// IsGlobalAdmin reports whether p may administer the whole registry (role admin on "*"):
// who sees the web UI's admin pages.
func (s *Service) IsGlobalAdmin(p Principal) bool {
	return !p.Anonymous && s.Check(p, RegistryTarget(), Admin) == nil
}

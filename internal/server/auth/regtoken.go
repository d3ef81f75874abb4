package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/chartroom/chartroom/internal/meta"
)

// Registry tokens are what the token service (GET and POST /v2/token, the docker registry
// token flow) and POST /api/oidc/token hand out: short-lived JWTs, signed ES256 with a key
// kept in the database (so that every replica signs and verifies alike), carrying who they
// were issued to and what they allow:
//
//   - a token of the token service carries the docker "access" list: the repositories and
//     actions granted, the intersection of those asked for and those its subject may take.
//     It allows those actions on those repositories only, and never more than its subject
//     may do when it is used (a revoked API token or a removed grant ends it at once).
//   - a token of POST /api/oidc/token carries the OIDC identity it was exchanged for, with
//     the roles the trusted-publishers rules gave it: it may do what that identity may.
//
// They are accepted as "Authorization: Bearer" and as the password of Basic credentials
// (any user name), so that helm repo add --password "$TOKEN" works with one.

// Registry token defaults and bounds.
const (
	DefaultTokenTTL = 5 * time.Minute
	MinTokenTTL     = 30 * time.Second
	// MaxTokenTTL bounds --token-ttl; keys retired longer ago than this are removed by a
	// rotation, as no token they signed can still be valid.
	MaxTokenTTL = 24 * time.Hour
	// TokenIssuer is the "iss" of every registry token.
	TokenIssuer = "chartroom"
	// clockSkew is the leeway of exp, nbf and iat checks, for clocks a little apart.
	clockSkew = 30 * time.Second
	// tokenAlgorithm is the one signature algorithm of registry tokens.
	tokenAlgorithm = jose.ES256
	// maxJWTLength bounds a JWT read from a request: a real one is far smaller.
	maxJWTLength = 16 << 10
)

// token kinds (claim "kind").
const (
	kindAccess = "access" // of the token service: the docker access list limits it
	kindOIDC   = "oidc"   // of POST /api/oidc/token: the OIDC identity's roles
)

// TokenOptions configure the registry token flow and trusted publishing. The zero value
// issues tokens for DefaultTokenTTL and trusts no OIDC issuer.
type TokenOptions struct {
	// TTL is how long a registry token is valid; 0 means DefaultTokenTTL.
	TTL time.Duration
	// ExternalURL is the URL clients reach the server at; the challenge's realm and the
	// tokens' audience (service) are derived from it, or from each request's Host when "".
	ExternalURL string
	// TrustedPublishers are the OIDC issuers and rules of trusted publishing.
	TrustedPublishers []TrustedPublisher
	// HTTPClient fetches OIDC discovery documents and key sets; nil means a client with a
	// 10 s timeout.
	HTTPClient *http.Client
}

// AccessEntry is an entry of a token's docker "access" claim.
type AccessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// registryClaims are the claims of a registry token beyond the registered ones.
type registryClaims struct {
	Kind    string        `json:"kind"`
	Access  []AccessEntry `json:"access"`
	TokenID string        `json:"tid,omitempty"` // the API token it was issued for
	OIDC    *oidcClaim    `json:"oidc,omitempty"`
}

type oidcClaim struct {
	Issuer  string   `json:"iss"`
	Subject string   `json:"sub"`
	Grants  []string `json:"grants"` // "<namespace pattern>=<role>", the pattern as stored
}

// accessLimit is what a token of the token service allows: per repository, the actions.
type accessLimit struct {
	repos   map[string][]Action
	catalog bool // registry:catalog:*
}

// allows reports whether the limit lets action a on t through. A nil limit lets everything
// through. Registry-wide rights (whole) are never given by an access list; a namespace's own
// resources (its index, its upload API) may be read with pull on one of its repositories.
func (l *accessLimit) allows(t Target, a Action, whole bool) bool {
	switch {
	case l == nil:
		return true
	case whole:
		return false
	case t.Repository != "":
		return slices.Contains(l.repos[t.Repository], a)
	case a != Pull:
		return false
	case l.catalog:
		return true
	}
	for repo, actions := range l.repos {
		if ns := RepositoryTarget(repo).Namespace; ns == t.Namespace && slices.Contains(actions, Pull) {
			return true
		}
	}
	return false
}

// permits reports whether signed-in principal p may take action a in namespace ns (on t):
// what its user, API token or OIDC identity may, within its registry token's access list.
func (st *state) permits(p Principal, t Target, ns string, a Action, whole bool) bool {
	var ok bool
	if p.OIDC != nil {
		ok = p.OIDC.allowed(ns, a, whole)
	} else {
		ok = st.allowed(p, ns, a, whole)
	}
	return ok && p.limit.allows(t, a, whole)
}

// ErrInsufficientScope answers a request whose registry token does not grant what it needs
// although its subject may: the client is to ask the token service for a token with the
// scope of the challenge (answer 401).
var ErrInsufficientScope = fmt.Errorf("%w: the registry token does not grant this", ErrUnauthenticated)

// insufficientScope returns ErrInsufficientScope when p holds a registry token whose access
// list refuses action a on repository t although its subject may take it (on a namespace's
// own resources, the classic repository, which has no token flow, the answer stays 403).
func (st *state) insufficientScope(p Principal, t Target, a Action) error {
	if p.limit == nil || t.Repository == "" {
		return nil
	}
	q := p
	q.limit = nil
	if !st.permits(q, t, t.Namespace, a, false) {
		return nil
	}
	return fmt.Errorf("%w: %s on %s; ask the token service for it (the challenge names the scope)", ErrInsufficientScope, a, t)
}

// tokenService is the state of the registry token flow.
type tokenService struct {
	keys     atomic.Pointer[keyring]
	mu       sync.Mutex // one key load at a time
	lastLoad time.Time  // of a load forced by an unknown key id (at most one a second)
	oidc     oidcService
}

// keyring is one load of the signing keys.
type keyring struct {
	generation int64 // of the auth state when read
	signer     *signingKey
	byID       map[string]*signingKey
}

type signingKey struct {
	id      string
	priv    *ecdsa.PrivateKey
	retired time.Time
}

func (s *Service) tokenTTL() time.Duration {
	if s.opts.Tokens.TTL > 0 {
		return s.opts.Tokens.TTL
	}
	return DefaultTokenTTL
}

// NewTokenKey makes a signing key as the database stores it.
func NewTokenKey() (meta.TokenKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return meta.TokenKey{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return meta.TokenKey{}, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return meta.TokenKey{}, err
	}
	return meta.TokenKey{ID: "key-" + hex.EncodeToString(b[:]), Algorithm: string(tokenAlgorithm), PrivateKey: der}, nil
}

// EnsureTokenKey creates the signing key of registry tokens when none signs yet (the first
// start), and loads the keys.
func (s *Service) EnsureTokenKey(ctx context.Context) error {
	k, err := NewTokenKey()
	if err != nil {
		return err
	}
	rec := &meta.AuditRecord{Actor: "serve", Address: "local", Action: "token-keys.create", Outcome: OutcomeOK, Detail: "the first key signing registry tokens: " + k.ID}
	added, err := s.db.AddTokenKey(ctx, k, false, time.Time{}, rec)
	if err != nil {
		return err
	}
	if added {
		s.log.Info("created the key that signs registry tokens", "key", k.ID)
	}
	_, err = s.loadKeys(ctx)
	return err
}

// RotateTokenKey makes a new signing key; the keys that signed until now are retired (they
// verify the tokens they signed until those expired) and keys retired more than MaxTokenTTL
// ago are removed. It returns the new key's id.
func (a *Manager) RotateTokenKey(ctx context.Context) (string, error) {
	k, err := NewTokenKey()
	if err != nil {
		return "", err
	}
	rec := a.record("token-keys.rotate", "", OutcomeOK, "new key signing registry tokens: "+k.ID)
	_, err = a.DB.AddTokenKey(ctx, k, true, time.Now().Add(-MaxTokenTTL-clockSkew), rec)
	return k.ID, err
}

// loadKeys reads the signing keys from the database.
func (s *Service) loadKeys(ctx context.Context) (*keyring, error) {
	gen, err := s.db.AuthGeneration(ctx)
	if err != nil {
		return nil, err
	}
	ks, err := s.db.TokenKeys(ctx)
	if err != nil {
		return nil, err
	}
	kr := &keyring{generation: gen, byID: map[string]*signingKey{}}
	for _, k := range ks {
		if k.Algorithm != string(tokenAlgorithm) {
			continue
		}
		key, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		priv, ok := key.(*ecdsa.PrivateKey)
		if err != nil || !ok {
			s.log.Error("auth: a stored token signing key cannot be read; it is ignored (chartroom token-keys rotate makes a new one)", "key", k.ID)
			continue
		}
		sk := &signingKey{id: k.ID, priv: priv, retired: k.Retired}
		kr.byID[k.ID] = sk
		if kr.signer == nil && k.Retired.IsZero() {
			kr.signer = sk // newest first
		}
	}
	s.tok.keys.Store(kr)
	return kr, nil
}

// keyring returns the signing keys, read again when the auth state's generation moved (a
// rotation raises it), or when force (an unknown key id: a rotation this replica has not
// seen yet), at most once a second.
func (s *Service) keyring(ctx context.Context, force bool) (*keyring, error) {
	gen := s.current().generation
	kr := s.tok.keys.Load()
	if kr != nil && kr.generation == gen && !force {
		return kr, nil
	}
	s.tok.mu.Lock()
	defer s.tok.mu.Unlock()
	if cur := s.tok.keys.Load(); cur != kr && cur != nil {
		return cur, nil
	}
	if kr != nil && force && time.Since(s.tok.lastLoad) < time.Second {
		return kr, nil
	}
	s.tok.lastLoad = time.Now()
	nkr, err := s.loadKeys(ctx)
	if err != nil {
		if kr != nil {
			s.log.Error("auth: reading the token signing keys failed; going on with those read before", "err", err)
			return kr, nil
		}
		return nil, err
	}
	return nkr, nil
}

// Service returns the name of the token service, the audience of the registry tokens used
// on r: the host of Options.Tokens.ExternalURL, else r's Host.
func (s *Service) Service(r *http.Request) string {
	if u, err := url.Parse(s.opts.Tokens.ExternalURL); err == nil && u.Host != "" {
		return u.Host
	}
	return r.Host
}

// baseURL is where clients reach the server: Options.Tokens.ExternalURL, else the scheme
// (https behind a TLS proxy that says so with X-Forwarded-Proto) and Host r came with. (A
// caller who sets X-Forwarded-Proto itself only changes the realm of its own challenge,
// which its client checks against the registry it contacted.)
func (s *Service) baseURL(r *http.Request) string {
	if s.opts.Tokens.ExternalURL != "" {
		return strings.TrimSuffix(s.opts.Tokens.ExternalURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// BearerChallenge sets the WWW-Authenticate header of a 401 answer on /v2/: the token
// service's realm and name, the scope the request needs ("" for none) and, for a registry
// token that lacks it, error="insufficient_scope".
func (s *Service) BearerChallenge(w http.ResponseWriter, r *http.Request, scope string, err error) {
	v := fmt.Sprintf("Bearer realm=%q,service=%q", s.baseURL(r)+"/v2/token", s.Service(r))
	if scope != "" {
		v += fmt.Sprintf(",scope=%q", scope)
	}
	if errors.Is(err, ErrInsufficientScope) {
		v += `,error="insufficient_scope"`
	}
	w.Header().Set("WWW-Authenticate", v)
}

// IssuedToken is a registry token as the token service answers it.
type IssuedToken struct {
	Token     string
	ExpiresIn int // seconds
	IssuedAt  time.Time
}

// IssueToken signs a registry token for p on the service named by r: with access (the
// token service: what it allows), or for an OIDC identity with access nil (POST
// /api/oidc/token: what the identity may do).
func (s *Service) IssueToken(r *http.Request, p Principal, access []AccessEntry) (IssuedToken, error) {
	kr, err := s.keyring(r.Context(), false)
	if err != nil {
		return IssuedToken{}, err
	}
	if kr.signer == nil {
		return IssuedToken{}, errors.New("no key signs registry tokens: run chartroom token-keys rotate, or restart chartroom serve, which creates one")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tokenAlgorithm, Key: jose.JSONWebKey{Key: kr.signer.priv, KeyID: kr.signer.id, Algorithm: string(tokenAlgorithm)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return IssuedToken{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	ttl := s.tokenTTL()
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return IssuedToken{}, err
	}
	std := jwt.Claims{
		Issuer:    TokenIssuer,
		Subject:   p.Name,
		Audience:  jwt.Audience{s.Service(r)},
		Expiry:    jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	rc := registryClaims{Kind: kindAccess, Access: access, TokenID: p.TokenID}
	if rc.Access == nil {
		rc.Access = []AccessEntry{}
	}
	if p.OIDC != nil {
		rc.OIDC = &oidcClaim{Issuer: p.OIDC.Issuer, Subject: p.OIDC.Subject}
		for _, g := range p.OIDC.grants {
			rc.OIDC.Grants = append(rc.OIDC.Grants, g.pattern+"="+string(g.role))
		}
		if access == nil {
			rc.Kind, rc.Access = kindOIDC, nil
		}
	} else if access == nil {
		return IssuedToken{}, errors.New("a registry token without an access list is issued for an OIDC identity only")
	}
	raw, err := jwt.Signed(signer).Claims(std).Claims(rc).Serialize()
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: raw, ExpiresIn: int(ttl / time.Second), IssuedAt: now}, nil
}

// errBadRegistryToken is the answer to a registry token that is not valid; why is appended.
var errBadRegistryToken = fmt.Errorf("%w: the registry token is not valid", ErrUnauthenticated)

// verifyToken checks a registry token and returns the principal it stands for.
func (s *Service) verifyToken(r *http.Request, raw string) (Principal, error) {
	bad := func(why string) (Principal, error) {
		return Principal{}, fmt.Errorf("%w (%s): sign in again (helm registry login) or ask the token service for a new one", errBadRegistryToken, why)
	}
	if len(raw) > maxJWTLength {
		return bad("too long")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{tokenAlgorithm})
	if err != nil {
		return bad("not an ES256 JWT")
	}
	if len(tok.Headers) != 1 {
		return bad("not one signature")
	}
	kid := tok.Headers[0].KeyID
	kr, err := s.keyring(r.Context(), false)
	if err != nil {
		return Principal{}, err
	}
	key := kr.byID[kid]
	if key == nil {
		if kr, err = s.keyring(r.Context(), true); err != nil {
			return Principal{}, err
		}
		key = kr.byID[kid]
	}
	if key == nil {
		return bad("signed by a key this server does not have")
	}
	var std jwt.Claims
	var rc registryClaims
	if err := tok.Claims(&key.priv.PublicKey, &std, &rc); err != nil {
		return bad("its signature does not verify")
	}
	now := time.Now()
	if !key.retired.IsZero() && now.After(key.retired.Add(s.tokenTTL()+clockSkew)) {
		return bad("signed by a key retired since")
	}
	if std.Expiry == nil || std.IssuedAt == nil {
		return bad("no expiry")
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: TokenIssuer, AnyAudience: jwt.Audience{s.Service(r)}, Time: now}, clockSkew)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return bad("expired")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return bad("another issuer")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return bad("issued for another service than " + s.Service(r))
	case err != nil:
		return bad("not valid yet")
	case std.Expiry.Time().Sub(std.IssuedAt.Time()) > MaxTokenTTL:
		return bad("valid for too long")
	}
	p := Principal{Name: std.Subject, TokenID: rc.TokenID}
	if rc.OIDC != nil {
		id := &OIDCIdentity{Issuer: rc.OIDC.Issuer, Subject: rc.OIDC.Subject}
		for _, g := range rc.OIDC.Grants {
			pattern, role, _ := strings.Cut(g, "=")
			if rl, err := ParseRole(role); err == nil {
				id.grants = append(id.grants, grant{pattern: pattern, role: rl})
			}
		}
		p.OIDC, p.TokenID = id, ""
	} else if p.Name == "" {
		p = Principal{Anonymous: true}
	}
	switch rc.Kind {
	case kindAccess:
		p.limit = newAccessLimit(rc.Access)
	case kindOIDC:
		if p.OIDC == nil {
			return bad("no OIDC identity")
		}
	default:
		return bad("unknown kind")
	}
	return p, nil
}

func newAccessLimit(access []AccessEntry) *accessLimit {
	l := &accessLimit{repos: map[string][]Action{}}
	for _, e := range access {
		switch e.Type {
		case "repository":
			for _, name := range e.Actions {
				if a, err := ParseAction(name); err == nil && a != Admin && !slices.Contains(l.repos[e.Name], a) {
					l.repos[e.Name] = append(l.repos[e.Name], a)
				}
			}
		case "registry":
			if e.Name == "catalog" && slices.Contains(e.Actions, "*") {
				l.catalog = true
			}
		}
	}
	return l
}

// looksLikeJWT reports whether s has the shape of a compact JWS: three base64url parts.
func looksLikeJWT(s string) bool {
	if len(s) > maxJWTLength || strings.Count(s, ".") != 2 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// unverifiedIssuer reads the "iss" of a JWT without verifying it, to tell a registry token
// from an OIDC ID token; "" when it is not a JWT.
func unverifiedIssuer(raw string) string {
	tok, err := jwt.ParseSigned(raw, oidcAlgorithms)
	if err != nil {
		return ""
	}
	var c jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&c) != nil {
		return ""
	}
	return c.Issuer
}

// authenticateJWT checks a JWT sent as the password of Basic credentials: a registry token
// (any user name), or with user name OIDCUser an OIDC ID token of a trusted publisher.
// handled is false when pass is neither, to be checked as a password.
func (s *Service) authenticateJWT(r *http.Request, user, pass string) (p Principal, err error, handled bool) {
	if !looksLikeJWT(pass) {
		return Principal{}, nil, false
	}
	switch iss := unverifiedIssuer(pass); {
	case iss == TokenIssuer:
		p, err = s.verifyToken(r, pass)
		return p, err, true
	case user == OIDCUser:
		p, err = s.authenticateOIDC(r, pass)
		return p, err, true
	}
	return Principal{}, nil, false
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// tokenKey is the cache key of a verified token: its hash, never the token.
func tokenKey(raw string) [32]byte { return sha256.Sum256([]byte(raw)) }

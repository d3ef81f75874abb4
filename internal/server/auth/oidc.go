package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Trusted publishing: a CI job signs in with the OIDC ID token its platform gives it (GitHub
// Actions, GitLab CI, …), as the password of user name OIDCUser or exchanged at POST
// /api/oidc/token for a registry token, instead of holding a secret. The token is verified
// against its issuer's keys (OpenID discovery, then the JWKS, cached by go-oidc and fetched
// again for a key id it does not know), its exp and nbf with a skew of 30 s, its audience and
// every claim of a rule, exactly. Each rule that matches gives the identity its role on its
// namespace pattern, nothing else.

// OIDCUser is the user name that marks an OIDC ID token as the password.
const OIDCUser = "oidc"

// errOIDCSignature is an ID token whose signature does not verify with its issuer's keys.
var errOIDCSignature = fmt.Errorf("%w: bad signature", ErrUnauthenticated)

// TrustedPublisher is a rule of trusted publishing (config file key trusted-publishers).
type TrustedPublisher struct {
	// Issuer is the OIDC issuer URL (https, or http on a loopback address).
	Issuer string
	// Audience must be one of the token's audiences.
	Audience string
	// Claims must all be in the token, equal: a string claim to the string, any other
	// claim's JSON text to it (e.g. "123" matches the number 123).
	Claims map[string]string
	// Namespace is the namespace pattern the rule gives Role on, as stored
	// (ParseNamespacePattern).
	Namespace string
	Role      Role
}

// ValidateTrustedPublisher checks a rule as read from the config file.
func ValidateTrustedPublisher(tp TrustedPublisher) error {
	if err := ValidateIssuer(tp.Issuer); err != nil {
		return err
	}
	if tp.Audience == "" {
		return errors.New("audience is missing: name the audience the CI job requests its ID token for (e.g. the registry's host)")
	}
	if len(tp.Claims) == 0 {
		return errors.New("claims are missing: a rule needs at least one claim to match (e.g. repository: org/app), or every job of the issuer would match")
	}
	if _, err := ParseRole(string(tp.Role)); err != nil {
		return err
	}
	if tp.Role == RoleAdmin {
		return errors.New("role admin cannot be given by trusted publishing: use reader, publisher or maintainer")
	}
	return nil
}

// ValidateIssuer checks an issuer URL: https, or http only on a loopback address.
func ValidateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q is not an issuer URL: expected e.g. https://token.actions.githubusercontent.com", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("issuer %q uses http on a non-loopback address: use https (http is accepted on 127.0.0.1, ::1 and localhost only, for tests)", issuer)
	}
	return fmt.Errorf("issuer %q: expected an https URL", issuer)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// OIDCIdentity is a CI job signed in with an OIDC ID token: its issuer and subject, and the
// roles the rules it matched give it.
type OIDCIdentity struct {
	Issuer, Subject string
	grants          []grant
}

// allowed reports whether the identity may take action a in namespace ns (whole: on every
// namespace).
func (id *OIDCIdentity) allowed(ns string, a Action, whole bool) bool {
	for _, g := range id.grants {
		if (whole && g.pattern == "*" || !whole && covers(g.pattern, ns)) && g.role.Allows(a) {
			return true
		}
	}
	return false
}

// Grants lists the identity's roles as "<namespace pattern> <role>".
func (id *OIDCIdentity) Grants() []string {
	var out []string
	for _, g := range id.grants {
		out = append(out, PatternString(g.pattern)+" "+string(g.role))
	}
	return out
}

// oidcAlgorithms are the signature algorithms an ID token may use.
var oidcAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// discoveryRetry is how long a failed discovery of an issuer is remembered before it is
// tried again.
const discoveryRetry = 10 * time.Second

// oidcService caches the issuers' providers and the ID tokens verified.
type oidcService struct {
	mu        sync.Mutex
	providers map[string]*providerEntry
	verified  map[[32]byte]oidcVerified
}

type providerEntry struct {
	once     chan struct{} // closed when the discovery ended
	provider *oidc.Provider
	err      error
	at       time.Time
}

type oidcVerified struct {
	p       Principal
	expires time.Time
}

// provider returns the issuer's provider, discovering it on first use. A failed discovery
// is answered for discoveryRetry, then tried again.
func (s *Service) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	o := &s.tok.oidc
	o.mu.Lock()
	if o.providers == nil {
		o.providers = map[string]*providerEntry{}
	}
	e := o.providers[issuer]
	if e != nil {
		select {
		case <-e.once:
			if e.err != nil && time.Since(e.at) > discoveryRetry {
				e = nil
			}
		default:
		}
	}
	if e == nil {
		e = &providerEntry{once: make(chan struct{})}
		o.providers[issuer] = e
		go func() {
			client := s.opts.Tokens.HTTPClient
			if client == nil {
				client = &http.Client{Timeout: 10 * time.Second}
			}
			// (The provider fetches the key set later with the client, not this context.)
			dctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), client), 15*time.Second)
			defer cancel()
			p, err := oidc.NewProvider(dctx, issuer)
			e.provider, e.err, e.at = p, err, time.Now()
			if err != nil {
				s.log.Warn("auth: OIDC discovery failed; trusted publishing with this issuer fails until it succeeds (tried again in 10 s)", "issuer", issuer, "err", err)
			}
			close(e.once)
		}()
	}
	o.mu.Unlock()
	select {
	case <-e.once:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, fmt.Errorf("%w: the OIDC issuer %s cannot be reached now (its discovery failed): try again later", ErrUnauthenticated, issuer)
	}
	return e.provider, nil
}

// authenticateOIDC verifies an OIDC ID token and returns the identity with the roles of the
// rules it matches. A verified token is remembered until it expires; its first use is
// recorded in the audit log (action oidc.login) with the claims the rules matched.
func (s *Service) authenticateOIDC(r *http.Request, raw string) (Principal, error) {
	addr := clientAddress(r)
	now := time.Now()
	key := tokenKey(raw)
	o := &s.tok.oidc
	o.mu.Lock()
	v, hit := o.verified[key]
	o.mu.Unlock()
	if hit && now.Before(v.expires) {
		return v.p, nil
	}
	if wait := s.throttle.wait(OIDCUser, addr, now); wait > 0 {
		s.throttled.Add(1)
		return Principal{}, &ThrottledError{RetryAfter: wait}
	}
	p, exp, detail, err := s.verifyOIDC(r.Context(), raw, now)
	if err != nil {
		s.failures.Add(1)
		if errors.Is(err, errOIDCSignature) {
			// Only a token whose signature does not verify costs more than a check: the
			// issuer's key set is fetched again, in case the issuer rotated its keys.
			s.throttle.fail(OIDCUser, addr, now)
		}
		return Principal{}, err
	}
	s.throttle.succeed(OIDCUser, addr)
	o.mu.Lock()
	if o.verified == nil || len(o.verified) > 10000 {
		o.verified = map[[32]byte]oidcVerified{}
	}
	o.verified[key] = oidcVerified{p: p, expires: exp.Add(clockSkew)}
	o.mu.Unlock()
	s.Audit(AuditRecord{Actor: p.Name, Address: Address(r), Action: "oidc.login", Outcome: OutcomeOK, Detail: detail})
	return p, nil
}

// verifyOIDC verifies an ID token against the trusted publishers: the principal, when the
// token expires, and what the audit log records.
func (s *Service) verifyOIDC(ctx context.Context, raw string, now time.Time) (Principal, time.Time, string, error) {
	rules := s.opts.Tokens.TrustedPublishers
	if len(rules) == 0 {
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: this server trusts no OIDC issuer (user name %s signs in with an OIDC ID token): an operator adds trusted-publishers to its config file", ErrUnauthenticated, OIDCUser)
	}
	iss := unverifiedIssuer(raw)
	if iss == "" {
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the password of user %s must be an OIDC ID token (a signed JWT)", ErrUnauthenticated, OIDCUser)
	}
	var candidates []TrustedPublisher
	for _, tp := range rules {
		if tp.Issuer == iss {
			candidates = append(candidates, tp)
		}
	}
	if len(candidates) == 0 {
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token's issuer is not trusted by this server (trusted-publishers of its config file)", ErrUnauthenticated)
	}
	prov, err := s.provider(ctx, iss)
	if err != nil {
		return Principal{}, time.Time{}, "", err
	}
	idt, err := prov.Verifier(&oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true}).Verify(ctx, raw)
	if err != nil {
		s.log.Info("auth: an OIDC ID token was refused", "issuer", iss, "err", err)
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token's signature or issuer does not verify against %s", errOIDCSignature, iss)
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token's claims cannot be read", ErrUnauthenticated)
	}
	exp, okExp := numericClaim(claims, "exp")
	switch {
	case !okExp:
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token has no expiry (exp)", ErrUnauthenticated)
	case !now.Before(exp.Add(clockSkew)):
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token expired at %s: request a new one", ErrUnauthenticated, exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := numericClaim(claims, "nbf"); ok && now.Add(clockSkew).Before(nbf) {
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token is not valid before %s", ErrUnauthenticated, nbf.UTC().Format(time.RFC3339))
	}
	id := &OIDCIdentity{Issuer: iss, Subject: idt.Subject}
	used := map[string]string{}
	var mismatch []string
	for i, tp := range candidates {
		why := matchRule(tp, idt.Audience, claims)
		if why != "" {
			mismatch = append(mismatch, fmt.Sprintf("rule %d: %s", i+1, why))
			continue
		}
		g := grant{pattern: tp.Namespace, role: tp.Role}
		if !slices.Contains(id.grants, g) {
			id.grants = append(id.grants, g)
		}
		for k, v := range tp.Claims {
			used[k] = v
		}
	}
	if len(id.grants) == 0 {
		// The operator's log says which claim did not match; the caller only that none did.
		s.log.Info("auth: an OIDC ID token matched no trusted-publishers rule", "issuer", iss, "subject", idt.Subject, "mismatch", strings.Join(mismatch, "; "))
		return Principal{}, time.Time{}, "", fmt.Errorf("%w: the ID token of issuer %s (subject %q) matches no trusted-publishers rule: its audience and claims must match a rule of the server's config exactly", ErrUnauthenticated, iss, idt.Subject)
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cl []string
	for _, k := range keys {
		cl = append(cl, k+"="+used[k])
	}
	detail := fmt.Sprintf("issuer %s, subject %s, claims %s, roles %s", iss, idt.Subject, strings.Join(cl, " "), strings.Join(id.Grants(), ", "))
	return Principal{Name: OIDCUser + ":" + idt.Subject, OIDC: id}, exp, detail, nil
}

// matchRule returns why the token does not match rule tp, "" when it does.
func matchRule(tp TrustedPublisher, aud []string, claims map[string]json.RawMessage) string {
	if !slices.Contains(aud, tp.Audience) {
		return "audience differs"
	}
	names := make([]string, 0, len(tp.Claims))
	for k := range tp.Claims {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !claimEquals(claims[k], tp.Claims[k]) {
			return "claim " + k + " differs"
		}
	}
	return ""
}

// claimEquals compares a claim's JSON value with a configured string: a JSON string by its
// value, anything else by its JSON text.
func claimEquals(v json.RawMessage, want string) bool {
	if len(v) == 0 {
		return false
	}
	var s string
	if v[0] == '"' {
		if json.Unmarshal(v, &s) != nil {
			return false
		}
		return s == want
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return false
	}
	return buf.String() == want
}

func numericClaim(claims map[string]json.RawMessage, name string) (time.Time, bool) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false
	}
	var f float64
	if json.Unmarshal(v, &f) != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// ExchangeOIDC verifies an OIDC ID token (POST /api/oidc/token) and issues a registry token
// for the identity: it may do what the identity may, until it expires.
func (s *Service) ExchangeOIDC(r *http.Request, raw string) (IssuedToken, Principal, error) {
	raw = strings.TrimSpace(raw)
	if !looksLikeJWT(raw) {
		return IssuedToken{}, Principal{}, fmt.Errorf("%w: \"token\" must be an OIDC ID token (a signed JWT, as the CI platform issues it)", ErrUnauthenticated)
	}
	p, err := s.authenticateOIDC(r, raw)
	if err != nil {
		return IssuedToken{}, Principal{}, err
	}
	t, err := s.IssueToken(r, p, nil)
	return t, p, err
}

// Package auth decides who a request comes from and what it may do, and keeps the audit log.
//
// Who: HTTP Basic credentials, a user's password (bcrypt) or an API token (tokens.go) as the
// password; no credentials is anonymous. What: roles per namespace granted to users and
// tokens, limited for a token by its scopes, and anonymous read per namespace (policy.go);
// Check answers for one principal, action and target, Permitted for a set of actions on a
// repository (what a token service asks). The whole state is cached in memory and follows
// the database within Options.Refresh (state.go).
//
// Password checks cost the same whether the user exists or not (an unknown user's password
// is compared with a dummy hash), run at most Options.MaxConcurrentChecks at a time, and are
// throttled: too many failures (wrong passwords and bad tokens alike) for a user from an
// address, or from an address, are refused with ErrThrottled until they leak away
// (throttle.go).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/chartroom/chartroom/internal/meta"
)

// Errors from Authorize.
var (
	// ErrUnauthenticated: no or wrong credentials; answer 401 with Challenge.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the credentials are good but do not allow this; answer 403.
	ErrForbidden = errors.New("access denied")
)

func isUnauthenticated(err error) bool { return errors.Is(err, ErrUnauthenticated) }
func isForbidden(err error) bool       { return errors.Is(err, ErrForbidden) }
func isHidden(err error) bool          { return errors.Is(err, ErrHidden) }
func isThrottled(err error) bool       { return errors.Is(err, ErrThrottled) }

// Principal is who a request comes from.
type Principal struct {
	Name      string // the user; "" when anonymous
	TokenID   string // the API token the user signed in with; "" for a password
	Anonymous bool
	// OIDC is the CI job's identity when it signed in with an OIDC ID token (trusted
	// publishing, oidc.go); Name is then "oidc:<subject>".
	OIDC *OIDCIdentity

	limit *accessLimit // a registry token's access list (regtoken.go); nil: none
}

// String names the principal in messages: user NAME, or token ID of user NAME, or anonymous.
func (p Principal) String() string {
	switch {
	case p.Anonymous:
		return "an anonymous caller"
	case p.OIDC != nil:
		return fmt.Sprintf("OIDC identity %s of %s", p.OIDC.Subject, p.OIDC.Issuer)
	case p.TokenID != "":
		return fmt.Sprintf("API token %s of user %s", p.TokenID, p.Name)
	}
	return "user " + p.Name
}

// Options configure the service. The zero value allows no anonymous reads.
type Options struct {
	// AnonymousRead lets requests without credentials pull and list every namespace whose
	// own setting (chartroom namespace set --anonymous-read) does not say otherwise.
	AnonymousRead bool
	// Realm is the Basic realm named in challenges; "" means "chartroom".
	Realm string
	// MaxConcurrentChecks bounds the password (bcrypt) checks running at once; 0 means
	// GOMAXPROCS. Requests beyond it wait for a slot (or until they are cancelled).
	MaxConcurrentChecks int
	// UserFailures is how many wrong passwords a user may send from one address before
	// further attempts are refused; 0 means DefaultUserFailures.
	UserFailures int
	// AddressFailures is how many wrong passwords (any users) one address may send before
	// its further attempts are refused; 0 means DefaultAddressFailures.
	AddressFailures int
	// FailureWindow is how long failures take to be forgotten: after a burst, one more
	// attempt is allowed every FailureWindow/UserFailures (per user and address) and every
	// FailureWindow/AddressFailures (per address); 0 means DefaultFailureWindow.
	FailureWindow time.Duration
	// Refresh is how often, at most, changes to users, tokens, grants and anonymous read
	// made in the database (chartroom user, token, grant, namespace set) are looked for; 0
	// means DefaultRefresh, a negative value at every request.
	Refresh time.Duration
	// AuditRetention is how long audit records are kept; 0 means DefaultAuditRetention, a
	// negative value forever.
	AuditRetention time.Duration
	// Tokens configure registry tokens and trusted publishing (regtoken.go, oidc.go).
	Tokens TokenOptions
	// Logger receives the service's own failures (reading the database, writing the audit
	// log); nil means slog.Default().
	Logger *slog.Logger
}

// Service authenticates and authorizes requests and records the audit log. It is safe for
// concurrent use.
type Service struct {
	db   *meta.DB
	opts Options
	log  *slog.Logger

	st      atomic.Pointer[state] // the authorization state (state.go)
	checked atomic.Int64          // when its generation was last compared, Unix ns
	reload  sync.Mutex

	// cache of verified passwords: bcrypt is slow on purpose, so a good password is verified
	// once, and trusted while the user's password hash is the one it was verified against.
	mu     sync.Mutex
	cache  map[[32]byte]cached
	flight singleflight.Group

	slots    chan struct{} // one per password check allowed to run
	throttle *throttle

	dummyOnce sync.Once
	dummy     []byte // bcrypt hash compared against for unknown users

	audit   auditBuffer
	touchMu sync.Mutex
	touch   map[string]time.Time // tokens used since their last-use times were written

	tok tokenService // registry tokens and trusted publishing (regtoken.go, oidc.go)

	checks, failures, throttled, auditDropped atomic.Int64
	running, peak                             atomic.Int64
}

// Stats counts the service's credential checks since it started.
type Stats struct {
	Checks       int64 // bcrypt comparisons run, unknown users' included
	Failures     int64 // unknown users, wrong passwords and bad tokens
	Throttled    int64 // attempts refused with ErrThrottled, their password unchecked
	Running      int64 // comparisons running now
	Peak         int64 // the most comparisons that ran at once
	AuditDropped int64 // refused requests not recorded in the audit log (it was backed up)
}

// Stats returns the counters of credential checks.
func (s *Service) Stats() Stats {
	return Stats{
		Checks:       s.checks.Load(),
		Failures:     s.failures.Load(),
		Throttled:    s.throttled.Load(),
		Running:      s.running.Load(),
		Peak:         s.peak.Load(),
		AuditDropped: s.auditDropped.Load(),
	}
}

type cached struct {
	p       Principal
	hash    string // the password hash verified against
	expires time.Time
}

// cacheTTL bounds how long a verified password is trusted without bcrypt; a changed
// password or a deleted user ends it at once (the state's hash no longer matches).
const cacheTTL = 10 * time.Minute

// New builds the service.
func New(db *meta.DB, opts Options) *Service {
	if opts.Realm == "" {
		opts.Realm = "chartroom"
	}
	if opts.MaxConcurrentChecks <= 0 {
		opts.MaxConcurrentChecks = runtime.GOMAXPROCS(0)
	}
	if opts.UserFailures <= 0 {
		opts.UserFailures = DefaultUserFailures
	}
	if opts.AddressFailures <= 0 {
		opts.AddressFailures = DefaultAddressFailures
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = DefaultFailureWindow
	}
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.AuditRetention == 0 {
		opts.AuditRetention = DefaultAuditRetention
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{
		db:       db,
		opts:     opts,
		log:      opts.Logger,
		cache:    map[[32]byte]cached{},
		slots:    make(chan struct{}, opts.MaxConcurrentChecks),
		throttle: newThrottle(opts.UserFailures, opts.AddressFailures, opts.FailureWindow),
	}
}

// Bootstrap creates user admin, a global admin (role admin on "*"), when no user exists,
// with the given password or, if empty, a random one that is logged once. When users exist,
// a given password that is not admin's is ignored with a warning: it never changes a
// password. It also logs, once, who an upgrade from a release before roles made a global
// admin.
func (s *Service) Bootstrap(ctx context.Context, password string, log *slog.Logger) error {
	if names, ok, err := s.db.TakeSetting(ctx, "upgrade.0005.global_admins"); err != nil {
		return err
	} else if ok {
		log.Warn("upgraded to roles per namespace: every user could do everything before, so every existing user is now a global admin (role admin on *); "+
			"narrow them with chartroom grant and chartroom revoke (chartroom user list shows their roles)", "users", names)
	}
	n, err := s.db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if password != "" {
			s.warnIgnoredPassword(ctx, password, log)
		}
		return nil
	}
	generated := password == ""
	if generated {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(b[:])
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	err = s.db.CreateUser(ctx, meta.User{Name: "admin", PasswordHash: string(hash), Role: string(RoleAdmin)},
		[]meta.Grant{{Namespace: "*", Role: string(RoleAdmin)}},
		&meta.AuditRecord{Actor: "serve", Address: "local", Action: "user.add", Outcome: OutcomeOK, Detail: "the first user: role admin on *"})
	if errors.Is(err, meta.ErrExists) {
		return nil // another replica bootstrapped first
	}
	if err != nil {
		return err
	}
	if generated {
		log.Warn("created user admin with a generated password; it is shown only now: set CHARTROOM_ADMIN_PASSWORD to choose it", "user", "admin", "password", password)
	} else {
		log.Info("created user admin with the password from CHARTROOM_ADMIN_PASSWORD", "user", "admin")
	}
	return s.Reload(ctx)
}

// warnIgnoredPassword logs that CHARTROOM_ADMIN_PASSWORD does not apply to an existing
// database, unless it is admin's password anyway.
func (s *Service) warnIgnoredPassword(ctx context.Context, password string, log *slog.Logger) {
	u, err := s.db.GetUser(ctx, "admin")
	if err == nil && bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil {
		return
	}
	log.Warn("CHARTROOM_ADMIN_PASSWORD is ignored: it only sets the password of user admin created on the first start, "+
		"and users exist already; the passwords stay as they are. Change one with: chartroom user passwd admin",
		"user", "admin")
}

// Authenticate returns who the request comes from: a user when it carries valid Basic
// credentials (a password, or an API token as the password), the subject of a registry
// token (Bearer, or as the password), a CI job's OIDC identity (user name oidc, its ID token
// as the password), anonymous when it carries none. Wrong credentials are
// ErrUnauthenticated; too many of them ErrThrottled.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	if raw, ok := bearerToken(r); ok {
		return s.verifyToken(r, raw)
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return Principal{}, fmt.Errorf("%w: the Authorization header is neither HTTP Basic credentials (Basic base64(user:password)) nor a registry token (Bearer); sign in with a user name and a password or an API token", ErrUnauthenticated)
		}
		return Principal{Anonymous: true}, nil
	}
	if user == "" {
		return Principal{}, fmt.Errorf("%w: the credentials have no user name: give the user's name, also with an API token", ErrUnauthenticated)
	}
	if p, err, handled := s.authenticateJWT(r, user, pass); handled {
		return p, err
	}
	addr := clientAddress(r)
	now := time.Now()
	if id, secret, isToken := parseToken(pass); isToken {
		return s.authenticateToken(user, id, secret, addr, now)
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	st := s.current()
	if st.users[user] == nil {
		st = s.fresher() // perhaps created a moment ago
	}
	s.mu.Lock()
	c, hit := s.cache[key]
	s.mu.Unlock()
	if u := st.users[user]; hit && u != nil && string(u.hash) == c.hash && now.Before(c.expires) {
		s.throttle.succeed(user, addr)
		return c.p, nil
	}
	if wait := s.throttle.wait(user, addr, now); wait > 0 {
		s.throttled.Add(1)
		return Principal{}, &ThrottledError{RetryAfter: wait}
	}
	p, err, _ := s.verify(r.Context(), st, key, user, pass)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		s.throttle.fail(user, addr, time.Now())
	case err == nil:
		s.throttle.succeed(user, addr)
	}
	if err != nil {
		return Principal{}, err
	}
	return p.(Principal), nil
}

// authenticateToken checks an API token sent as user's password.
func (s *Service) authenticateToken(user, id, secret, addr string, now time.Time) (Principal, error) {
	if wait := s.throttle.wait(user, addr, now); wait > 0 {
		s.throttled.Add(1)
		return Principal{}, &ThrottledError{RetryAfter: wait}
	}
	st := s.current()
	if st.tokens[id] == nil {
		st = s.fresher() // perhaps created a moment ago
	}
	p, err := st.checkToken(user, id, secret, now)
	if err != nil {
		s.failures.Add(1)
		s.throttle.fail(user, addr, now)
		return Principal{}, err
	}
	s.throttle.succeed(user, addr)
	s.touched(id, now)
	return p, nil
}

// checkPassword compares pass with a bcrypt hash (the dummy one when hash is nil), waiting
// for a free slot first: at most MaxConcurrentChecks comparisons run at once.
func (s *Service) checkPassword(ctx context.Context, hash []byte, pass string) (bool, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.slots }()
	if hash == nil {
		hash = s.dummyHash()
	}
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	s.checks.Add(1)
	return bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil, nil
}

// dummyHash is a bcrypt hash of a random password, at the cost users' hashes have, so that
// checking an unknown user costs what checking a wrong password costs.
func (s *Service) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		var b [18]byte
		_, _ = rand.Read(b[:])
		h, err := bcrypt.GenerateFromPassword(b[:], bcrypt.DefaultCost)
		if err != nil {
			panic(fmt.Sprintf("auth: bcrypt of the dummy password: %v", err)) // only for a cost out of range
		}
		s.dummy = h
	})
	return s.dummy
}

// verify checks a user's password against its hash in st (bcrypt) and caches the result.
// Concurrent checks of the same credentials share one bcrypt run.
func (s *Service) verify(ctx context.Context, st *state, key [32]byte, user, pass string) (any, error, bool) {
	return s.flight.Do(string(key[:]), func() (any, error) {
		var hash []byte // nil: an unknown user, checked against the dummy hash all the same
		u := st.users[user]
		if u != nil {
			hash = u.hash
		}
		ok, err := s.checkPassword(ctx, hash, pass)
		if err != nil {
			return nil, err
		}
		if !ok || u == nil {
			s.failures.Add(1)
			s.mu.Lock()
			delete(s.cache, key)
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: unknown user or wrong password", ErrUnauthenticated)
		}
		p := Principal{Name: u.name}
		s.mu.Lock()
		if len(s.cache) > 10000 {
			s.cache = map[[32]byte]cached{}
		}
		s.cache[key] = cached{p: p, hash: string(u.hash), expires: time.Now().Add(cacheTTL)}
		s.mu.Unlock()
		return p, nil
	})
}

// Authorize authenticates the request and checks it may take action on t (see Check).
func (s *Service) Authorize(r *http.Request, t Target, action Action) (Principal, error) {
	p, err := s.Authenticate(r)
	if err != nil {
		return p, err
	}
	return p, s.Check(p, t, action)
}

// Challenge sets the WWW-Authenticate header a 401 answer carries.
func (s *Service) Challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.opts.Realm))
}

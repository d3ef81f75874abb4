// Package auth decides who a request comes from and what it may do.
//
// For now: HTTP Basic credentials checked against users in the metadata database (bcrypt),
// one bootstrap "admin" created on first start, every write authenticated, reads open only
// with anonymous read enabled. Roles and a token service slot in behind Authorize.
//
// Password checks cost the same whether the user exists or not (an unknown user's password
// is compared with a dummy hash), run at most Options.MaxConcurrentChecks at a time, and are
// throttled: too many failures for a user from an address, or from an address, are refused
// with ErrThrottled until they leak away (throttle.go).
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

// Action is what a request wants to do to a repository.
type Action int

// Actions, from least to most privileged.
const (
	Pull Action = iota
	Push
	Delete
)

func (a Action) String() string {
	switch a {
	case Pull:
		return "pull"
	case Push:
		return "push"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Roles.
const (
	RoleAdmin = "admin"
)

// Errors from Authorize.
var (
	// ErrUnauthenticated: no or wrong credentials; answer 401 with Challenge.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the credentials are good but do not allow this; answer 403.
	ErrForbidden = errors.New("access denied")
)

// Principal is who a request comes from.
type Principal struct {
	Name      string // "" when anonymous
	Role      string
	Anonymous bool
}

// Options configure the service. The zero value allows no anonymous reads.
type Options struct {
	// AnonymousRead lets requests without credentials pull and list.
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
}

// Service authenticates and authorizes requests. It is safe for concurrent use.
type Service struct {
	db   *meta.DB
	opts Options

	// cache of verified credentials: bcrypt is slow on purpose, so a good password is
	// verified once per minute per user, not once per request.
	mu     sync.Mutex
	cache  map[[32]byte]cached
	flight singleflight.Group

	slots    chan struct{} // one per password check allowed to run
	throttle *throttle

	dummyOnce sync.Once
	dummy     []byte // bcrypt hash compared against for unknown users

	checks, failures, throttled atomic.Int64
	running, peak               atomic.Int64
}

// Stats counts the service's password checks since it started.
type Stats struct {
	Checks    int64 // bcrypt comparisons run, unknown users' included
	Failures  int64 // unknown users and wrong passwords
	Throttled int64 // attempts refused with ErrThrottled, their password unchecked
	Running   int64 // comparisons running now
	Peak      int64 // the most comparisons that ran at once
}

// Stats returns the counters of password checks.
func (s *Service) Stats() Stats {
	return Stats{
		Checks:    s.checks.Load(),
		Failures:  s.failures.Load(),
		Throttled: s.throttled.Load(),
		Running:   s.running.Load(),
		Peak:      s.peak.Load(),
	}
}

type cached struct {
	p       Principal
	expires time.Time
}

// cacheTTL is how long verified credentials are trusted; cacheRefresh before that, a
// request that uses them triggers a background re-verification.
const (
	cacheTTL     = time.Minute
	cacheRefresh = 15 * time.Second
)

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
	return &Service{
		db:       db,
		opts:     opts,
		cache:    map[[32]byte]cached{},
		slots:    make(chan struct{}, opts.MaxConcurrentChecks),
		throttle: newThrottle(opts.UserFailures, opts.AddressFailures, opts.FailureWindow),
	}
}

// Bootstrap creates user admin when no user exists, with the given password or, if empty,
// a random one that is logged once. When users exist, a given password that is not admin's
// is ignored with a warning: it never changes a password.
func (s *Service) Bootstrap(ctx context.Context, password string, log *slog.Logger) error {
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
	err = s.db.CreateUser(ctx, meta.User{Name: "admin", PasswordHash: string(hash), Role: RoleAdmin})
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
	return nil
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
// credentials, anonymous when it carries none. Wrong credentials are ErrUnauthenticated.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return Principal{}, fmt.Errorf("%w: only HTTP Basic credentials are accepted", ErrUnauthenticated)
		}
		return Principal{Anonymous: true}, nil
	}
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	now := time.Now()
	s.mu.Lock()
	c, hit := s.cache[key]
	s.mu.Unlock()
	if hit && now.Before(c.expires) {
		if c.expires.Sub(now) < cacheRefresh {
			// Verify again in the background before the entry lapses, so that busy clients
			// never wait for bcrypt once it is cached.
			go func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), cacheRefresh)
				defer cancel()
				_, _, _ = s.verify(ctx, key, user, pass)
			}()
		}
		s.throttle.succeed(user, clientAddress(r))
		return c.p, nil
	}
	addr := clientAddress(r)
	if wait := s.throttle.wait(user, addr, now); wait > 0 {
		s.throttled.Add(1)
		return Principal{}, &ThrottledError{RetryAfter: wait}
	}
	p, err, _ := s.verify(r.Context(), key, user, pass)
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

// verify checks a user's password against the database (bcrypt) and caches the result.
// Concurrent checks of the same credentials share one bcrypt run.
func (s *Service) verify(ctx context.Context, key [32]byte, user, pass string) (any, error, bool) {
	return s.flight.Do(string(key[:]), func() (any, error) {
		// Shared by every waiter: not cancelled with the request that happened to start it
		// (but a check waiting for a slot gives up with it).
		u, err := s.db.GetUser(context.WithoutCancel(ctx), user)
		var hash []byte // nil: an unknown user, checked against the dummy hash all the same
		if err == nil {
			hash = []byte(u.PasswordHash)
		}
		if err == nil || errors.Is(err, meta.ErrNotFound) {
			ok, cerr := s.checkPassword(ctx, hash, pass)
			switch {
			case cerr != nil:
				return nil, cerr
			case !ok && err == nil:
				err = meta.ErrNotFound
			}
		}
		if errors.Is(err, meta.ErrNotFound) {
			s.failures.Add(1)
			s.mu.Lock()
			delete(s.cache, key)
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: unknown user or wrong password", ErrUnauthenticated)
		}
		if err != nil {
			return nil, err
		}
		p := Principal{Name: u.Name, Role: u.Role}
		s.mu.Lock()
		if len(s.cache) > 10000 {
			s.cache = map[[32]byte]cached{}
		}
		s.cache[key] = cached{p: p, expires: time.Now().Add(cacheTTL)}
		s.mu.Unlock()
		return p, nil
	})
}

// Authorize authenticates the request and checks it may perform action on repository
// ("" for registry-wide reads such as the catalog).
func (s *Service) Authorize(r *http.Request, repository string, action Action) (Principal, error) {
	p, err := s.Authenticate(r)
	if err != nil {
		return p, err
	}
	if p.Anonymous {
		if action == Pull && s.opts.AnonymousRead {
			return p, nil
		}
		return p, fmt.Errorf("%w: %s on %q needs credentials (helm registry login, or --username/--password)", ErrUnauthenticated, action, repository)
	}
	// Every user may do everything until roles arrive; RoleAdmin is the only role.
	return p, nil
}

// Challenge sets the WWW-Authenticate header a 401 answer carries.
func (s *Service) Challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", s.opts.Realm))
}

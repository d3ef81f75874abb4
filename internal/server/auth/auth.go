// Package auth decides who a request comes from and what it may do.
//
// For now: HTTP Basic credentials checked against users in the metadata database (bcrypt),
// one bootstrap "admin" created on first start, every write authenticated, reads open only
// with anonymous read enabled. Roles and a token service slot in behind Authorize.
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
	"sync"
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
	return &Service{db: db, opts: opts, cache: map[[32]byte]cached{}}
}

// Bootstrap creates user admin when no user exists, with the given password or, if empty,
// a random one that is logged once.
func (s *Service) Bootstrap(ctx context.Context, password string, log *slog.Logger) error {
	n, err := s.db.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
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
			go func() { _, _, _ = s.verify(context.WithoutCancel(r.Context()), key, user, pass) }()
		}
		return c.p, nil
	}
	p, err, _ := s.verify(r.Context(), key, user, pass)
	if err != nil {
		return Principal{}, err
	}
	return p.(Principal), nil
}

// verify checks a user's password against the database (bcrypt) and caches the result.
// Concurrent checks of the same credentials share one bcrypt run.
func (s *Service) verify(ctx context.Context, key [32]byte, user, pass string) (any, error, bool) {
	return s.flight.Do(string(key[:]), func() (any, error) {
		// Shared by every waiter: not cancelled with the request that happened to start it.
		u, err := s.db.GetUser(context.WithoutCancel(ctx), user)
		if err == nil && bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pass)) != nil {
			err = meta.ErrNotFound
		}
		if errors.Is(err, meta.ErrNotFound) {
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

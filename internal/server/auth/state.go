package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

// The service keeps the whole authorization state (users and their password hashes, tokens,
// grants, anonymous read settings) in memory, so that deciding a request reads no database.
// The database's auth generation, raised by triggers on every change whatever makes it (the
// admin commands, on the same database, also while the server runs), says when the copy is
// stale: it is read at most once per Options.Refresh, and the whole state reloaded when it
// moved. So a new user, a revoked token, a changed password or grant takes effect within
// Refresh (DefaultRefresh: one second).

// DefaultRefresh is how often, at most, the service checks for changes made to users,
// tokens, grants and anonymous read settings.
const DefaultRefresh = time.Second

// state is one generation of the authorization state.
type state struct {
	generation int64
	users      map[string]*userState
	tokens     map[string]*tokenState
	anonymous  map[string]bool // namespace → anonymous read, where it is set
}

type userState struct {
	name   string
	hash   []byte // bcrypt
	grants []grant
}

type tokenState struct {
	id      string
	user    string
	hash    []byte // SHA-256 of the secret
	scopes  []Scope
	expires time.Time
	revoked bool
	grants  []grant
}

type grant struct {
	pattern string
	role    Role
}

// newState builds the in-memory state from the database's.
func newState(ms *meta.AuthState) *state {
	st := &state{
		generation: ms.Generation,
		users:      make(map[string]*userState, len(ms.Users)),
		tokens:     make(map[string]*tokenState, len(ms.Tokens)),
		anonymous:  ms.AnonymousRead,
	}
	for _, u := range ms.Users {
		st.users[u.Name] = &userState{name: u.Name, hash: []byte(u.PasswordHash)}
	}
	for _, t := range ms.Tokens {
		ts := &tokenState{id: t.ID, user: t.User, hash: t.SecretHash, expires: t.Expires, revoked: !t.Revoked.IsZero()}
		for _, s := range t.Scopes {
			sc, err := ParseScope(s)
			if err != nil {
				// A scope this release cannot read allows nothing: the token is limited to
				// the scopes it can read, never widened.
				sc = Scope{Pattern: "\x00"}
			}
			ts.scopes = append(ts.scopes, sc)
		}
		st.tokens[t.ID] = ts
	}
	for _, g := range ms.Grants {
		role, err := ParseRole(g.Role)
		if err != nil {
			continue // an unknown role grants nothing
		}
		gr := grant{pattern: g.Namespace, role: role}
		switch {
		case g.TokenID != "":
			if t := st.tokens[g.TokenID]; t != nil {
				t.grants = append(t.grants, gr)
			}
		default:
			if u := st.users[g.User]; u != nil {
				u.grants = append(u.grants, gr)
			}
		}
	}
	return st
}

// allowed reports whether signed-in principal p may take action a in namespace ns; with
// whole, on every namespace (ns is "*": only grants and scopes on "*" count).
func (st *state) allowed(p Principal, ns string, a Action, whole bool) bool {
	match := func(pattern string) bool {
		if whole {
			return pattern == "*"
		}
		return covers(pattern, ns)
	}
	u := st.users[p.Name]
	if u == nil {
		return false // deleted since it signed in
	}
	best := Role("")
	for _, g := range u.grants {
		if match(g.pattern) && g.role.rank() > best.rank() {
			best = g.role
		}
	}
	if p.TokenID == "" {
		return best.Allows(a)
	}
	t := st.tokens[p.TokenID]
	if t == nil || t.revoked || t.user != p.Name {
		return false
	}
	for _, g := range t.grants {
		if match(g.pattern) && g.role.rank() > best.rank() {
			best = g.role
		}
	}
	if !best.Allows(a) {
		return false
	}
	if len(t.scopes) == 0 {
		return true
	}
	for _, sc := range t.scopes {
		if whole && sc.Pattern == "*" && (a == Pull || containsAction(sc.Actions, a)) || !whole && sc.allows(ns, a) {
			return true
		}
	}
	return false
}

func containsAction(as []Action, a Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// current returns the state, reloading it first when the database's generation moved (read
// at most once per Options.Refresh). A failure to read keeps the state as it was, logged.
func (s *Service) current() *state {
	st := s.st.Load()
	now := time.Now()
	if st != nil && now.Sub(time.Unix(0, s.checked.Load())) < s.opts.Refresh {
		return st
	}
	if !s.reload.TryLock() {
		if st != nil {
			return st // another request is checking; this one goes on with what is known
		}
		s.reload.Lock() // the first state: wait for it
	}
	defer s.reload.Unlock()
	if cur := s.st.Load(); cur != nil && cur != st {
		return cur // reloaded while this one waited
	}
	if err := s.refresh(context.Background(), st); err != nil {
		s.log.Error("auth: reading users, tokens and grants failed; going on with what was read before", "err", err)
	}
	if cur := s.st.Load(); cur != nil {
		return cur
	}
	return &state{users: map[string]*userState{}, tokens: map[string]*tokenState{}, anonymous: map[string]bool{}}
}

// recentRefresh bounds how often a credential the known state does not know (a user or an
// API token created a moment ago, by an admin command or another replica) makes the service
// look at the database's generation again before refusing it, rather than waiting for
// Options.Refresh: a client that signs in right after its token was created is not refused
// (and its refusals do not count towards the sign-in throttle). The look is one read of one
// row, at most 1/recentRefresh times a second whatever unknown credentials arrive.
const recentRefresh = 50 * time.Millisecond

// fresher returns the state, reloaded first when the generation moved since a look more than
// recentRefresh ago: for a credential current() does not know.
func (s *Service) fresher() *state {
	recent := func() bool { return time.Since(time.Unix(0, s.checked.Load())) < recentRefresh }
	st := s.st.Load()
	if st != nil && recent() {
		return st
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if cur := s.st.Load(); cur != nil && (cur != st || recent()) {
		return cur // reloaded or looked at while this one waited
	}
	if err := s.refresh(context.Background(), st); err != nil {
		s.log.Error("auth: reading users, tokens and grants failed; going on with what was read before", "err", err)
	}
	if cur := s.st.Load(); cur != nil {
		return cur
	}
	return &state{users: map[string]*userState{}, tokens: map[string]*tokenState{}, anonymous: map[string]bool{}}
}

// refresh reloads the state when the generation moved from st's.
func (s *Service) refresh(ctx context.Context, st *state) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s.checked.Store(time.Now().UnixNano()) // a failure too is tried again only after Refresh
	gen, err := s.db.AuthGeneration(ctx)
	if err != nil {
		return err
	}
	if st != nil && gen == st.generation {
		return nil
	}
	ms, err := s.db.LoadAuthState(ctx)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	s.st.Store(newState(ms))
	return nil
}

// Reload reads the authorization state now, whatever Refresh says: for changes made
// through the service itself, and for tests.
func (s *Service) Reload(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	return s.refresh(ctx, nil)
}

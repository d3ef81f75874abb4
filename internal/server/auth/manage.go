package auth

import (
	"context"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

// What the web UI's admin pages read and change: the same Manager the admin commands use
// (each change audited in its transaction, under the signed-in admin's name and address),
// and the lists the commands print, read through the service's database.

// Manager returns a Manager over the service's database whose changes the audit log
// records as made by actor from address. The service follows them at once (Reload) when
// the caller asks, and within Options.Refresh otherwise.
func (s *Service) Manager(actor, address string) *Manager {
	return &Manager{DB: s.db, Actor: actor, Address: address}
}

// Account is a user as the admin pages list it.
type Account struct {
	Name    string
	Created time.Time
	Roles   []RoleGrant // its own grants
	Tokens  int         // its tokens not revoked
}

// RoleGrant is a role granted to a user or a token on a namespace pattern.
type RoleGrant struct {
	User    string // the user's name; "" for a token's grant
	TokenID string // the token's id; "" for a user's grant
	// Pattern is the namespace pattern as the commands take it: "/" for the root namespace,
	// "team", "team/*", "*".
	Pattern string
	Role    string
	Created time.Time
}

// Subject is the grant's holder as the grant commands take it: a user name or a token id.
func (g RoleGrant) Subject() string {
	if g.TokenID != "" {
		return g.TokenID
	}
	return g.User
}

// TokenInfo is an API token as the admin pages list it (never its secret: only its hash is
// stored).
type TokenInfo struct {
	ID, User, Description string
	Scopes                []string // none: what its user (and its own grants) allow
	Created               time.Time
	Expires               time.Time // zero: never
	Revoked               time.Time // zero: not revoked
	LastUsed              time.Time // zero: never used
	Roles                 []RoleGrant
}

// Expired reports whether the token's expiry has passed.
func (t TokenInfo) Expired() bool { return !t.Expires.IsZero() && time.Now().After(t.Expires) }

func roleGrantOf(g meta.Grant) RoleGrant {
	return RoleGrant{User: g.User, TokenID: g.TokenID, Pattern: PatternString(g.Namespace), Role: g.Role, Created: g.Created}
}

// Grants lists every grant: users' first (by name), then tokens'.
func (s *Service) Grants(ctx context.Context) ([]RoleGrant, error) {
	gs, err := s.db.ListGrants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RoleGrant, len(gs))
	for i, g := range gs {
		out[i] = roleGrantOf(g)
	}
	return out, nil
}

// Accounts lists the users by name with their grants and how many live tokens they have.
func (s *Service) Accounts(ctx context.Context) ([]Account, error) {
	users, err := s.db.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	grants, err := s.Grants(ctx)
	if err != nil {
		return nil, err
	}
	tokens, err := s.db.ListTokens(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]Account, len(users))
	index := map[string]int{}
	for i, u := range users {
		out[i] = Account{Name: u.Name, Created: u.Created}
		index[u.Name] = i
	}
	for _, g := range grants {
		if i, ok := index[g.User]; ok && g.TokenID == "" {
			out[i].Roles = append(out[i].Roles, g)
		}
	}
	for _, t := range tokens {
		if i, ok := index[t.User]; ok && t.Revoked.IsZero() {
			out[i].Tokens++
		}
	}
	return out, nil
}

// Tokens lists the tokens of user (every user's when ""), newest first, with their grants.
// The last-use times the service holds are written first.
func (s *Service) Tokens(ctx context.Context, user string) ([]TokenInfo, error) {
	if err := s.flushTouched(ctx); err != nil {
		s.log.Warn("auth: record token use", "error", err)
	}
	ts, err := s.db.ListTokens(ctx, user)
	if err != nil {
		return nil, err
	}
	grants, err := s.Grants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TokenInfo, len(ts))
	for i, t := range ts {
		out[i] = TokenInfo{ID: t.ID, User: t.User, Description: t.Description, Scopes: t.Scopes,
			Created: t.Created, Expires: t.Expires, Revoked: t.Revoked, LastUsed: t.LastUsed}
		for _, g := range grants {
			if g.TokenID == t.ID {
				out[i].Roles = append(out[i].Roles, g)
			}
		}
	}
	return out, nil
}

// AuditFilter selects audit records; the zero value selects every record.
type AuditFilter struct {
	Actor  string // exactly; "" for all
	Action string // exactly; "" for all
	// Namespace selects the records of a namespace or repository and everything under it;
	// "" for all.
	Namespace string
	// Outcome is an outcome exactly (ok, denied, …), or "refused" for every refused request
	// (unauthorized, denied, hidden, throttled); "" for all.
	Outcome      string
	Since, Until time.Time // zero: unbounded
	BeforeID     int64     // only records older than this one (paging back); 0: from the newest
	Limit        int       // 0: meta.DefaultAuditLimit
}

// OutcomeRefused is AuditFilter.Outcome for every refused request.
const OutcomeRefused = "refused"

// SearchAudit returns the records f selects, newest first, after writing those waiting.
func (s *Service) SearchAudit(ctx context.Context, f AuditFilter) ([]meta.AuditRecord, error) {
	q := meta.AuditQuery{Actor: f.Actor, Action: f.Action, Since: f.Since, Until: f.Until, BeforeID: f.BeforeID, Limit: f.Limit}
	if f.Namespace != "" {
		q.Repository = f.Namespace + "/*"
	}
	if f.Outcome == OutcomeRefused {
		q.Denied = true
	} else {
		q.Outcome = f.Outcome
	}
	return s.AuditLog(ctx, q)
}

// AnonymousReadDefault is what serve --anonymous-read says: whether a namespace without
// its own setting may be read without credentials.
func (s *Service) AnonymousReadDefault() bool { return s.opts.AnonymousRead }

package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/chartroom/chartroom/internal/meta"
)

// Manager changes users, tokens, grants and anonymous read directly in the database, each
// change with its audit record in one transaction: what the admin commands (chartroom user,
// token, grant, revoke, namespace set) do, also while a server runs on the database (it
// follows within its Options.Refresh).
type Manager struct {
	DB *meta.DB
	// Actor and Address are who the audit log says made the changes.
	Actor, Address string
}

func (a *Manager) record(action, target, outcome, detail string) *meta.AuditRecord {
	return &meta.AuditRecord{Actor: a.Actor, Address: a.Address, Action: action, Repository: target, Outcome: outcome, Detail: detail}
}

// HashPassword hashes a password as users' passwords are stored (bcrypt).
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// AddUser creates a user with a password; globalAdmin gives it role admin on "*".
func (a *Manager) AddUser(ctx context.Context, name, password string, globalAdmin bool) error {
	if err := ValidateUserName(name); err != nil {
		return err
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	var grants []meta.Grant
	detail := "user " + name
	if globalAdmin {
		grants = append(grants, meta.Grant{Namespace: "*", Role: string(RoleAdmin)})
		detail += ": role admin on *"
	}
	rec := a.record("user.add", "", OutcomeOK, detail)
	err = a.DB.CreateUser(ctx, meta.User{Name: name, PasswordHash: hash}, grants, rec)
	if errors.Is(err, meta.ErrExists) {
		return fmt.Errorf("user %s exists already: change its password with chartroom user passwd %s", name, name)
	}
	return err
}

// SetPassword changes a user's password.
func (a *Manager) SetPassword(ctx context.Context, name, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	rec := a.record("user.passwd", "", OutcomeOK, "user "+name)
	return userNotFound(a.DB.SetPassword(ctx, name, hash, rec), name)
}

// DeleteUser removes a user with its tokens and grants.
func (a *Manager) DeleteUser(ctx context.Context, name string) error {
	rec := a.record("user.delete", "", OutcomeOK, "user "+name+", with its tokens and grants")
	return userNotFound(a.DB.DeleteUser(ctx, name, rec), name)
}

func userNotFound(err error, name string) error {
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: there is no user %s (chartroom user list shows the users)", err, name)
	}
	return err
}

// NewTokenRequest is what a new token is made of.
type NewTokenRequest struct {
	User        string
	Scopes      []Scope // none: what its user may do
	Expires     time.Time
	Description string
}

// CreateToken makes and stores a token and returns its id and the token itself, which is
// shown once: only its hash is stored.
func (a *Manager) CreateToken(ctx context.Context, req NewTokenRequest) (id, token string, err error) {
	id, token, hash, err := NewToken()
	if err != nil {
		return "", "", err
	}
	scopes := make([]string, len(req.Scopes))
	for i, sc := range req.Scopes {
		scopes[i] = sc.String()
	}
	detail := "token " + id + " of user " + req.User
	if len(scopes) > 0 {
		detail += ", scopes " + strings.Join(scopes, " ")
	}
	if !req.Expires.IsZero() {
		detail += ", expires " + req.Expires.UTC().Format(time.RFC3339)
	}
	rec := a.record("token.create", "", OutcomeOK, detail)
	err = a.DB.CreateToken(ctx, meta.Token{ID: id, User: req.User, SecretHash: hash, Scopes: scopes, Expires: req.Expires, Description: req.Description}, rec)
	if err != nil {
		return "", "", userNotFound(err, req.User)
	}
	return id, token, nil
}

// RevokeToken revokes a token: it stops working at once (a running server: within its
// Options.Refresh).
func (a *Manager) RevokeToken(ctx context.Context, id string) error {
	rec := a.record("token.revoke", "", OutcomeOK, "token "+id)
	err := a.DB.RevokeToken(ctx, id, rec)
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: there is no token %s (chartroom token list shows the tokens)", err, id)
	}
	return err
}

// Subject reads a grant's subject: a token id (tok-…) or a user name.
func Subject(s string) meta.Grant {
	if IsTokenID(s) {
		return meta.Grant{TokenID: s}
	}
	return meta.Grant{User: s}
}

func subjectLabel(g meta.Grant) string {
	if g.TokenID != "" {
		return "token " + g.TokenID
	}
	return "user " + g.User
}

// Grant gives subject (a user name or a token id) role on a namespace pattern, replacing the
// role it had there.
func (a *Manager) Grant(ctx context.Context, subject, pattern string, role Role) error {
	g := Subject(subject)
	g.Namespace, g.Role = pattern, string(role)
	rec := a.record("grant", PatternString(pattern), OutcomeOK, subjectLabel(g)+": role "+string(role))
	err := a.DB.SetGrant(ctx, g, rec)
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: there is no %s (chartroom user list and chartroom token list show them)", err, subjectLabel(g))
	}
	return err
}

// Revoke removes the role subject has on a namespace pattern.
func (a *Manager) Revoke(ctx context.Context, subject, pattern string) error {
	g := Subject(subject)
	g.Namespace = pattern
	rec := a.record("revoke", PatternString(pattern), OutcomeOK, subjectLabel(g))
	err := a.DB.DeleteGrant(ctx, g, rec)
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %s has no role on %s (chartroom user list and chartroom token list show the roles)", err, subjectLabel(g), PatternString(pattern))
	}
	return err
}

// SetAnonymousRead sets whether namespace ns may be read without credentials (nil: as serve
// --anonymous-read says).
func (a *Manager) SetAnonymousRead(ctx context.Context, ns string, on *bool) error {
	detail := "as serve --anonymous-read says"
	if on != nil {
		detail = fmt.Sprint(*on)
	}
	return a.DB.SetNamespaceAnonymousRead(ctx, ns, on, a.record("namespace.anonymous_read", ns, OutcomeOK, detail))
}

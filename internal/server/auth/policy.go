package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chartroom/chartroom/internal/registry"
)

// Action is what a request wants to do. Every route names one; the zero Action is none, so
// a route that forgot to name its action is refused (see httpx.NewRoutes).
type Action int

// Actions, from least to most privileged.
const (
	// Pull reads: manifests, blobs, tags, indexes, archives, listings.
	Pull Action = iota + 1
	// Push publishes: manifests, blobs, chart uploads, provenance files.
	Push
	// Delete removes manifests, tags, blobs and chart versions.
	Delete
	// Admin manages access: grants of a namespace; on the registry, the audit log.
	Admin
)

// Actions lists every action, least privileged first.
var Actions = []Action{Pull, Push, Delete, Admin}

func (a Action) String() string {
	switch a {
	case Pull:
		return "pull"
	case Push:
		return "push"
	case Delete:
		return "delete"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// ParseAction reads an action's name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q: expected pull, push, delete or admin", s)
}

// Role is what a grant gives on namespaces. Each role may do what the one before it may, and more.
type Role string

// Roles, least privileged first.
const (
	RoleReader     Role = "reader"     // pull
	RolePublisher  Role = "publisher"  // and push new versions
	RoleMaintainer Role = "maintainer" // and delete
	RoleAdmin      Role = "admin"      // and manage grants; on "*": everything (a global admin)
)

// Roles lists every role, least privileged first.
var Roles = []Role{RoleReader, RolePublisher, RoleMaintainer, RoleAdmin}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	if slices.Contains(Roles, Role(s)) {
		return Role(s), nil
	}
	return "", fmt.Errorf("unknown role %q: expected reader (pull), publisher (and push), maintainer (and delete) or admin (and manage grants)", s)
}

// rank orders roles; 0 for none.
func (r Role) rank() int { return slices.Index(Roles, r) + 1 }

// Allows reports whether the role may take action.
func (r Role) Allows(a Action) bool {
	return r.rank() > 0 && int(a) >= int(Pull) && int(a) <= r.rank()
}

// Namespace patterns name the namespaces a grant or a token scope covers:
//
//	""          the root namespace (written "/" on the command line)
//	team/charts that namespace only: team/charts/myapp, not team/charts/sub/myapp
//	team/*      team and every namespace below it: team/myapp, team/charts/myapp, …
//	*           every namespace
//
// A pattern covers the same repositories as the --immutable-tags pattern of the same
// spelling, where * is any run of characters, "/" included: team/* covers team/myapp and
// team/charts/myapp. It is matched against the namespace a repository is in, so a grant
// never covers part of a namespace: a namespace's classic repository (its index.yaml) is
// either readable whole or not at all.

// ParseNamespacePattern reads a namespace pattern as the command line writes it ("/" for the
// root namespace) and returns it as stored.
func ParseNamespacePattern(s string) (string, error) {
	switch s {
	case "/":
		return "", nil
	case "*", "/*":
		return "*", nil
	}
	base, below := strings.CutSuffix(s, "/*")
	if strings.ContainsAny(base, "*?") {
		return "", fmt.Errorf("namespace pattern %q: write a namespace (team/charts), a namespace and everything below it (team/*), * for every namespace, or / for the root namespace", s)
	}
	if err := registry.ValidateName(base); err != nil {
		return "", fmt.Errorf("namespace pattern %q: %w", s, err)
	}
	if below {
		return base + "/*", nil
	}
	return base, nil
}

// PatternString is a stored namespace pattern as the command line writes it.
func PatternString(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// Covers reports whether namespace pattern p (as stored) covers namespace ns.
func Covers(p, ns string) bool { return covers(p, ns) }

// covers reports whether namespace pattern p covers namespace ns.
func covers(p, ns string) bool {
	if p == "*" {
		return true
	}
	if base, below := strings.CutSuffix(p, "/*"); below {
		return ns == base || strings.HasPrefix(ns, base+"/")
	}
	return p == ns
}

// Scope limits what a token may do: the actions on the namespaces of a pattern. Every scope
// allows pull besides the actions it names, as every client that pushes or deletes reads
// first.
type Scope struct {
	Pattern string // a namespace pattern as stored
	Actions []Action
}

// ParseScope reads a scope "<namespace pattern>:<action>[,<action>…]", e.g. team/charts:push,
// team/*:pull, *:push,delete.
func ParseScope(s string) (Scope, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Scope{}, fmt.Errorf("scope %q: expected <namespace>:<actions>, e.g. team/charts:push or team/*:pull", s)
	}
	p, err := ParseNamespacePattern(s[:i])
	if err != nil {
		return Scope{}, fmt.Errorf("scope %q: %w", s, err)
	}
	sc := Scope{Pattern: p}
	for _, name := range strings.Split(s[i+1:], ",") {
		a, err := ParseAction(strings.TrimSpace(name))
		if err != nil {
			return Scope{}, fmt.Errorf("scope %q: %w", s, err)
		}
		if !slices.Contains(sc.Actions, a) {
			sc.Actions = append(sc.Actions, a)
		}
	}
	slices.Sort(sc.Actions)
	return sc, nil
}

// String writes the scope as ParseScope reads it.
func (sc Scope) String() string {
	names := make([]string, len(sc.Actions))
	for i, a := range sc.Actions {
		names[i] = a.String()
	}
	return PatternString(sc.Pattern) + ":" + strings.Join(names, ",")
}

// allows reports whether the scope allows action on namespace ns.
func (sc Scope) allows(ns string, a Action) bool {
	return covers(sc.Pattern, ns) && (a == Pull || slices.Contains(sc.Actions, a))
}

// Target is what a request acts on.
type Target struct {
	// Namespace is the namespace acted on: the repository's (everything before its last
	// "/"), or the namespace whose classic repository a request reads or uploads to.
	Namespace string
	// Repository is the repository acted on; "" when the request acts on the namespace
	// itself (its index, its upload API) or on the registry.
	Repository string
	// Registry marks registry-wide requests: /v2/, the catalog, the audit log.
	Registry bool
}

// RepositoryTarget is a repository, e.g. team/charts/myapp (namespace team/charts).
func RepositoryTarget(repo string) Target {
	ns, _ := registry.SplitRepository(repo)
	return Target{Namespace: ns, Repository: repo}
}

// NamespaceTarget is a namespace's own resources: its index, its upload API.
func NamespaceTarget(ns string) Target { return Target{Namespace: ns} }

// RegistryTarget is the registry as a whole.
func RegistryTarget() Target { return Target{Registry: true} }

// String names the target as the audit log does: the repository, else the namespace.
func (t Target) String() string {
	if t.Repository != "" {
		return t.Repository
	}
	return t.Namespace
}

// ErrHidden answers a read by a signed-in caller who may not read the repository: the
// request is to be answered as if the repository did not exist (httpx runs the handler on
// an empty registry), so that a private repository cannot be told from a missing one.
var ErrHidden = errors.New("not found")

// Check decides whether principal p may take action on t: nil, or ErrUnauthenticated (no
// credentials where they are needed: answer 401 with a challenge), ErrHidden (a read the
// caller may not make: answer as if nothing were there) or ErrForbidden (403).
func (s *Service) Check(p Principal, t Target, a Action) error {
	st := s.current()
	if t.Registry {
		switch {
		case a == Pull && (p.Anonymous && s.opts.AnonymousRead || !p.Anonymous):
			return nil
		case p.Anonymous:
			return fmt.Errorf("%w: this needs credentials (helm registry login, or --username/--password)", ErrUnauthenticated)
		case st.permits(p, t, "*", a, true):
			return nil
		}
		return fmt.Errorf("%w: %s may not %s on the whole registry: that needs role %s on * (chartroom grant)", ErrForbidden, p, a, RoleAdmin)
	}
	if a == Pull && s.anonymousRead(st, t.Namespace) {
		return nil
	}
	if p.Anonymous {
		return fmt.Errorf("%w: %s on %q needs credentials (helm registry login, or --username/--password)", ErrUnauthenticated, a, t)
	}
	if st.permits(p, t, t.Namespace, a, false) {
		return nil
	}
	if err := st.insufficientScope(p, t, a); err != nil {
		return err
	}
	if a == Pull {
		return ErrHidden
	}
	return fmt.Errorf("%w: %s may not %s in %s; an admin can grant it a role there (chartroom grant)", ErrForbidden, p, a, namespaceLabel(t.Namespace))
}

// Permitted returns which of actions principal p may take on repository (e.g.
// team/charts/myapp): the one question a token service asks before it issues a token.
func (s *Service) Permitted(p Principal, repository string, actions ...Action) []Action {
	t := RepositoryTarget(repository)
	var out []Action
	for _, a := range actions {
		if s.Check(p, t, a) == nil {
			out = append(out, a)
		}
	}
	return out
}

// CanRead reports whether principal p may read namespace ns (to filter listings, such as
// the catalog).
func (s *Service) CanRead(p Principal, ns string) bool {
	return s.Check(p, NamespaceTarget(ns), Pull) == nil
}

// ReadsEverything reports whether principal p may read every namespace, so that listings
// need no filtering.
func (s *Service) ReadsEverything(p Principal) bool {
	if !p.Anonymous && s.current().permits(p, RegistryTarget(), "*", Pull, true) {
		return true
	}
	return false
}

// anonymousRead reports whether namespace ns may be read without credentials: its own
// setting, else serve --anonymous-read.
func (s *Service) anonymousRead(st *state, ns string) bool {
	if on, set := st.anonymous[ns]; set {
		return on
	}
	return s.opts.AnonymousRead
}

func namespaceLabel(ns string) string {
	if ns == "" {
		return "the root namespace"
	}
	return "namespace " + ns
}

// MayPublish reports whether p's subject (its user, API token or OIDC identity) may push to
// t, whatever the registry token p holds was issued for: a client that asked for a pull-only
// token (cosign resolving the tag it signs) is still the publisher. It lets publishers see
// what they published and must sign (chart versions a signed-only namespace quarantines).
func (s *Service) MayPublish(p Principal, t Target) bool {
	q := p
	q.limit = nil
	return s.Check(q, t, Push) == nil
}

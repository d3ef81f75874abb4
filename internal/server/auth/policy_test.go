package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

func TestParseNamespacePattern(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"/", "", ""},
		{"*", "*", ""},
		{"/*", "*", ""},
		{"team", "team", ""},
		{"team/charts", "team/charts", ""},
		{"team/*", "team/*", ""},
		{"team/charts/*", "team/charts/*", ""},
		{"team*", "", "write a namespace"},
		{"team/*/charts", "", "write a namespace"},
		{"team/?", "", "write a namespace"},
		{"Team", "", "lower-case"},
		{"team/../x", "", "lower-case"},
		{"", "", "empty"},
	} {
		got, err := ParseNamespacePattern(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseNamespacePattern(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseNamespacePattern(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
		}
	}
}

// A pattern covers the namespaces the --immutable-tags pattern of the same spelling covers
// the repositories of: team/* is team and everything below it, not teamx.
func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		pattern, ns string
		want        bool
	}{
		{"*", "", true},
		{"*", "team/charts", true},
		{"", "", true},
		{"", "team", false},
		{"team", "team", true},
		{"team", "team/charts", false},
		{"team", "teamx", false},
		{"team/*", "team", true},
		{"team/*", "team/charts", true},
		{"team/*", "team/charts/sub", true},
		{"team/*", "teamx", false},
		{"team/*", "teamx/charts", false},
		{"team/*", "", false},
		{"team/charts", "team", false},
	} {
		if got := Covers(tc.pattern, tc.ns); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v; want %v", tc.pattern, tc.ns, got, tc.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"team/charts:push", "team/charts:push", ""},
		{"team/*:delete,push", "team/*:push,delete", ""},
		{"*:pull", "*:pull", ""},
		{"/:push,push", "/:push", ""},
		{"team/charts", "", "expected <namespace>:<actions>"},
		{"team:write", "", "unknown action"},
		{"team*:pull", "", "write a namespace"},
	} {
		sc, err := ParseScope(tc.in)
		switch {
		case tc.err == "" && (err != nil || sc.String() != tc.want):
			t.Errorf("ParseScope(%q) = %q, %v; want %q", tc.in, sc, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseScope(%q) = %v; want an error saying %q", tc.in, err, tc.err)
		}
	}
}

// accessEnv is a service over a real database with users, tokens and grants made as the
// admin commands make them.
type accessEnv struct {
	t   *testing.T
	s   *Service
	m   *Manager
	db  *meta.DB
	dir string
}

func newAccessEnv(t *testing.T, opts Options) *accessEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := meta.OpenSQLite(context.Background(), filepath.Join(dir, "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if opts.Refresh == 0 {
		opts.Refresh = -1
	}
	s := New(db, opts)
	if err := s.Bootstrap(context.Background(), "s3cret", discard()); err != nil {
		t.Fatal(err)
	}
	return &accessEnv{t: t, s: s, m: &Manager{DB: db, Actor: "test", Address: "local"}, db: db, dir: dir}
}

func (e *accessEnv) user(name string, grants ...string) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.m.AddUser(ctx, name, "password-of-"+name, false); err != nil {
		e.t.Fatal(err)
	}
	for _, g := range grants {
		e.grant(name, g)
	}
}

// grant gives subject "pattern=role".
func (e *accessEnv) grant(subject, g string) {
	e.t.Helper()
	p, r, _ := strings.Cut(g, "=")
	pattern, err := ParseNamespacePattern(p)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.m.Grant(context.Background(), subject, pattern, Role(r)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *accessEnv) token(user string, scopes ...string) (id, token string) {
	e.t.Helper()
	req := NewTokenRequest{User: user}
	for _, s := range scopes {
		sc, err := ParseScope(s)
		if err != nil {
			e.t.Fatal(err)
		}
		req.Scopes = append(req.Scopes, sc)
	}
	id, token, err := e.m.CreateToken(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return id, token
}

// check authenticates user:pass (anonymous when user is "") and checks action on target.
func (e *accessEnv) check(user, pass string, target Target, a Action) error {
	r := httptest.NewRequest("GET", "/", nil)
	if user != "" {
		r.SetBasicAuth(user, pass)
	}
	_, err := e.s.Authorize(r, target, a)
	return err
}

// Who may do what: roles per namespace, prefix grants, the token's own grants and scopes,
// anonymous read per namespace, the global admin; a read the caller may not make is hidden,
// a write forbidden, anything without credentials unauthenticated.
func TestCheck(t *testing.T) {
	e := newAccessEnv(t, Options{})
	e.user("reader", "team/a=reader")
	e.user("pub", "team/a=publisher", "team/*=reader")
	e.user("maint", "team/a=maintainer")
	e.user("nsadmin", "team/*=admin")
	e.user("nobody")
	ciID, ciPush := e.token("pub", "team/a:push")
	_, ciPull := e.token("pub", "team/a:pull")
	_, ciAll := e.token("pub")
	robotID, robot := e.token("nobody", "team/b:push")
	e.grant(robotID, "team/b=publisher")
	on := true
	if err := e.m.SetAnonymousRead(context.Background(), "public", &on); err != nil {
		t.Fatal(err)
	}
	repo := func(r string) Target { return RepositoryTarget(r) }
	type who struct{ user, pass string }
	var (
		anon    = who{}
		admin   = who{"admin", "s3cret"}
		reader  = who{"reader", "password-of-reader"}
		pub     = who{"pub", "password-of-pub"}
		maint   = who{"maint", "password-of-maint"}
		nsadmin = who{"nsadmin", "password-of-nsadmin"}
		nobody  = who{"nobody", "password-of-nobody"}
	)
	for _, tc := range []struct {
		name   string
		who    who
		target Target
		action Action
		want   error
	}{
		{"admin pushes anywhere", admin, repo("x/y/app"), Push, nil},
		{"admin reads the audit log", admin, RegistryTarget(), Admin, nil},
		{"anonymous pull", anon, repo("team/a/app"), Pull, ErrUnauthenticated},
		{"anonymous pull of a public namespace", anon, repo("public/app"), Pull, nil},
		{"anonymous pull below a public namespace", anon, repo("public/sub/app"), Pull, ErrUnauthenticated},
		{"anonymous push of a public namespace", anon, repo("public/app"), Push, ErrUnauthenticated},
		{"anonymous ping", anon, RegistryTarget(), Pull, ErrUnauthenticated},
		{"reader pulls", reader, repo("team/a/app"), Pull, nil},
		{"reader pulls the namespace's index", reader, NamespaceTarget("team/a"), Pull, nil},
		{"reader pushes", reader, repo("team/a/app"), Push, ErrForbidden},
		{"reader pulls elsewhere", reader, repo("team/b/app"), Pull, ErrHidden},
		{"reader pulls below", reader, repo("team/a/sub/app"), Pull, ErrHidden},
		{"anyone signed in reads a public namespace", nobody, repo("public/app"), Pull, nil},
		{"publisher pushes", pub, repo("team/a/app"), Push, nil},
		{"publisher deletes", pub, repo("team/a/app"), Delete, ErrForbidden},
		{"prefix grant reads team itself", pub, repo("team/app"), Pull, nil},
		{"prefix grant reads below", pub, repo("team/x/y/app"), Pull, nil},
		{"prefix grant stops at teamx", pub, repo("teamx/app"), Pull, ErrHidden},
		{"maintainer deletes", maint, repo("team/a/app"), Delete, nil},
		{"maintainer is no admin", maint, NamespaceTarget("team/a"), Admin, ErrForbidden},
		{"namespace admin", nsadmin, NamespaceTarget("team/a"), Admin, nil},
		{"namespace admin reads no audit log", nsadmin, RegistryTarget(), Admin, ErrForbidden},
		{"a new user may do nothing", nobody, repo("team/a/app"), Pull, ErrHidden},
		{"a new user signs in", nobody, RegistryTarget(), Pull, nil},
		{"push token pushes", who{"pub", ciPush}, repo("team/a/app"), Push, nil},
		{"push token pulls", who{"pub", ciPush}, repo("team/a/app"), Pull, nil},
		{"push token on another namespace", who{"pub", ciPush}, repo("team/b/app"), Pull, ErrHidden},
		{"push token never above its user", who{"pub", ciPush}, repo("team/a/app"), Delete, ErrForbidden},
		{"pull token pushes", who{"pub", ciPull}, repo("team/a/app"), Push, ErrForbidden},
		{"token without scope is its user", who{"pub", ciAll}, repo("team/x/app"), Pull, nil},
		{"token without scope is no more", who{"pub", ciAll}, repo("team/x/app"), Push, ErrForbidden},
		{"token with its own grant", who{"nobody", robot}, repo("team/b/app"), Push, nil},
		{"token with its own grant, outside", who{"nobody", robot}, repo("team/a/app"), Pull, ErrHidden},
		{"token of another user's name", who{"reader", ciPush}, repo("team/a/app"), Pull, ErrUnauthenticated},
		{"token id alone", who{"pub", ciID}, repo("team/a/app"), Pull, ErrUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.check(tc.who.user, tc.who.pass, tc.target, tc.action)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
		})
	}
	p := Principal{Name: "pub", TokenID: ciID}
	if got := e.s.Permitted(p, "team/a/app", Actions...); !reflect.DeepEqual(got, []Action{Pull, Push}) {
		t.Errorf("Permitted(push token, team/a/app) = %v; want [pull push]", got)
	}
	if got := e.s.Permitted(Principal{Name: "nobody"}, "team/a/app", Actions...); got != nil {
		t.Errorf("Permitted(nobody) = %v; want none", got)
	}
}

// An API token: checked by its hash, refused alike whatever is wrong with it unless the
// caller proves it holds the secret, and then told why (revoked, expired).
func TestTokens(t *testing.T) {
	e := newAccessEnv(t, Options{UserFailures: 100, AddressFailures: 100})
	e.user("ci", "team=publisher")
	id, token := e.token("ci")
	target := RepositoryTarget("team/app")
	if err := e.check("ci", token, target, Push); err != nil {
		t.Fatalf("the token: %v", err)
	}
	checks := e.s.Stats().Checks
	last := "A"
	if token[len(token)-1] == 'A' {
		last = "B"
	}
	tampered := token[:len(token)-1] + last
	for _, tc := range []struct{ name, user, pass, says string }{
		{"tampered secret", "ci", tampered, "unknown user or wrong password"},
		{"another user's name", "admin", token, "unknown user or wrong password"},
		{"unknown id", "ci", strings.Replace(token, id, "tok-aaaaaaaaaa", 1), "unknown user or wrong password"},
		{"truncated", "ci", token[:len(token)-2], "unknown user or wrong password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.check(tc.user, tc.pass, target, Pull)
			if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), id) {
				t.Fatalf("got %v; want ErrUnauthenticated saying %q and not naming the token", err, tc.says)
			}
		})
	}
	if got := e.s.Stats().Checks; got != checks+1 { // the truncated one is a password: one bcrypt run
		t.Errorf("%d bcrypt runs for bad tokens; want 1 (the truncated token, read as a password)", got-checks)
	}
	// Revoked: refused, and the holder of the secret is told so.
	if err := e.m.RevokeToken(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := e.check("ci", token, target, Pull); !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked token: %v; want ErrUnauthenticated saying revoked", err)
	}
	// Expired.
	req := NewTokenRequest{User: "ci", Expires: time.Now().Add(-time.Second)}
	_, expired, err := e.m.CreateToken(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.check("ci", expired, target, Pull); !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired token: %v; want ErrUnauthenticated saying expired", err)
	}
}

// A token's last use is recorded when the service flushes, not at each request.
func TestTokenLastUse(t *testing.T) {
	e := newAccessEnv(t, Options{})
	e.user("ci", "team=reader")
	id, token := e.token("ci")
	for range 3 {
		if err := e.check("ci", token, RepositoryTarget("team/app"), Pull); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := e.db.GetToken(context.Background(), id)
	if err != nil || !tok.LastUsed.IsZero() {
		t.Fatalf("last use before a flush: %v, %v; want none written yet", tok.LastUsed, err)
	}
	e.s.Flush(context.Background())
	if tok, err = e.db.GetToken(context.Background(), id); err != nil || tok.LastUsed.IsZero() {
		t.Fatalf("last use after a flush: %v, %v; want it recorded", tok.LastUsed, err)
	}
}

// Changes made in the database by another process (the admin commands) apply within
// Refresh: a new user, a new grant, a revoked token, a changed password, a deleted user.
func TestChangesFromAnotherProcess(t *testing.T) {
	e := newAccessEnv(t, Options{Refresh: 50 * time.Millisecond, UserFailures: 1000, AddressFailures: 1000}) // tries before a change is seen are failures
	other, err := meta.OpenSQLiteExisting(context.Background(), filepath.Join(e.dir, "chartroom.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cli := &Manager{DB: other, Actor: "cli:test", Address: "local"}
	ctx := context.Background()
	target := RepositoryTarget("team/app")
	// eventually waits (a bounded while) for the service to see a change.
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen within 10 s", what)
			}
		}
	}
	if err := cli.AddUser(ctx, "ci", "first-password", false); err != nil {
		t.Fatal(err)
	}
	eventually("a new user", func() bool { return errors.Is(e.check("ci", "first-password", target, Pull), ErrHidden) })
	if err := cli.Grant(ctx, "ci", "team", RolePublisher); err != nil {
		t.Fatal(err)
	}
	eventually("a grant", func() bool { return e.check("ci", "first-password", target, Push) == nil })
	id, token, err := cli.CreateToken(ctx, NewTokenRequest{User: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	eventually("a new token", func() bool { return e.check("ci", token, target, Push) == nil })
	if err := cli.RevokeToken(ctx, id); err != nil {
		t.Fatal(err)
	}
	eventually("a revoked token", func() bool { return errors.Is(e.check("ci", token, target, Pull), ErrUnauthenticated) })
	// The password was verified (and cached) above; a new one ends the old one.
	if err := cli.SetPassword(ctx, "ci", "second-password"); err != nil {
		t.Fatal(err)
	}
	eventually("a changed password", func() bool { return errors.Is(e.check("ci", "first-password", target, Pull), ErrUnauthenticated) })
	if err := e.check("ci", "second-password", target, Push); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if err := cli.DeleteUser(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	eventually("a deleted user", func() bool { return errors.Is(e.check("ci", "second-password", target, Pull), ErrUnauthenticated) })
}

// Refusals alike that come together are one audit record with their count; writes are
// never merged; a flush writes them in order.
func TestAuditMergesRefusals(t *testing.T) {
	e := newAccessEnv(t, Options{})
	for range 5 {
		e.s.Audit(AuditRecord{Address: "192.0.2.1", Action: "oci.manifest.get", Repository: "team/app", Outcome: OutcomeUnauthenticated})
	}
	e.s.Audit(AuditRecord{Actor: "ci", Address: "192.0.2.2", Action: "oci.manifest.put", Repository: "team/app", Version: "1.0.0", Outcome: OutcomeOK})
	e.s.Audit(AuditRecord{Actor: "ci", Address: "192.0.2.2", Action: "oci.manifest.put", Repository: "team/app", Version: "1.0.0", Outcome: OutcomeOK})
	recs, err := e.s.AuditLog(context.Background(), AuditQuery{Repository: "team/app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[2].Count != 5 || recs[2].Outcome != OutcomeUnauthenticated || recs[0].Count != 1 || recs[1].Count != 1 {
		t.Fatalf("records = %+v; want the 5 refusals as one record of count 5, then the 2 writes", recs)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A user or an API token created a moment ago (by an admin command, or another replica) signs
// in at once, although the service looks for changes only once per Refresh: an unknown
// credential makes it look again first, and its refusal is not counted as a failed sign-in.
func TestCredentialsCreatedAMomentAgo(t *testing.T) {
	e := newAccessEnv(t, Options{Refresh: time.Hour, UserFailures: 1})
	e.user("pub", "team/a=publisher")
	if err := e.check("pub", "password-of-pub", RepositoryTarget("team/a/app"), Push); err != nil {
		t.Fatalf("before: %v", err)
	}
	// The state is now loaded and, with Refresh an hour, not looked at again by itself.
	_, tok := e.token("pub", "team/a:push")
	e.user("late", "team/a=reader")
	for i := 0; i < 3; i++ {
		if err := e.check("pub", tok, RepositoryTarget("team/a/app"), Push); err != nil {
			t.Fatalf("a token created after the state was loaded: %v", err)
		}
		if err := e.check("late", "password-of-late", RepositoryTarget("team/a/app"), Pull); err != nil {
			t.Fatalf("a user created after the state was loaded: %v", err)
		}
	}
}

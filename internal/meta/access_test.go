package meta

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// An upgrade from a release before roles makes every existing user a global admin (every
// user could do everything), and leaves a note saying who, taken once.
func TestUpgradeMakesExistingUsersGlobalAdmins(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chartroom.db")
	db, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	downgrade(t, db, 4)
	for _, name := range []string{"admin", "alice"} {
		if _, err := db.w.ExecContext(ctx, `INSERT INTO users (name, password_hash, role, created_at) VALUES (?, 'x', 'admin', 1)`, name); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = OpenSQLite(ctx, path) // migrates to 5
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	grants, err := db.ListGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range grants {
		got = append(got, g.User+" "+g.Namespace+" "+g.Role)
	}
	if want := []string{"admin * admin", "alice * admin"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("grants after the upgrade = %q; want %q", got, want)
	}
	note, ok, err := db.TakeSetting(ctx, "upgrade.0005.global_admins")
	if err != nil || !ok || note != "admin, alice" {
		t.Fatalf("upgrade note = %q, %v, %v; want \"admin, alice\"", note, ok, err)
	}
	if _, ok, _ := db.TakeSetting(ctx, "upgrade.0005.global_admins"); ok {
		t.Fatal("the upgrade note was there a second time")
	}

	// A fresh database has neither grants nor a note.
	fresh := openTest(t)
	if _, ok, _ := fresh.TakeSetting(ctx, "upgrade.0005.global_admins"); ok {
		t.Fatal("a fresh database has an upgrade note")
	}
}

// Every change to who may do what raises the auth generation, whoever makes it; a token's
// last use and other namespace settings do not.
func TestAuthGenerationFollowsChanges(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	on, off := true, false
	steps := []struct {
		name  string
		do    func() error
		moves bool
	}{
		{"add a user", func() error { return db.CreateUser(ctx, User{Name: "ci", PasswordHash: "h"}, nil, nil) }, true},
		{"change its password", func() error { return db.SetPassword(ctx, "ci", "h2", nil) }, true},
		{"create a token", func() error {
			return db.CreateToken(ctx, Token{ID: "tok-aaaaaaaaaa", User: "ci", SecretHash: []byte("s"), Scopes: []string{"team:push"}}, nil)
		}, true},
		{"record its use", func() error {
			return db.TouchTokens(ctx, map[string]time.Time{"tok-aaaaaaaaaa": time.Now()})
		}, false},
		{"grant the user", func() error { return db.SetGrant(ctx, Grant{User: "ci", Namespace: "team", Role: "publisher"}, nil) }, true},
		{"grant the token", func() error {
			return db.SetGrant(ctx, Grant{TokenID: "tok-aaaaaaaaaa", Namespace: "team/*", Role: "reader"}, nil)
		}, true},
		{"set anonymous read", func() error { return db.SetNamespaceAnonymousRead(ctx, "public", &on, nil) }, true},
		{"set it to the same", func() error { return db.SetNamespaceAnonymousRead(ctx, "public", &on, nil) }, false},
		{"set Artifact Hub metadata", func() error {
			return db.SetNamespaceSettings(ctx, NamespaceSettings{Namespace: "public", ArtifactHubRepo: []byte("owners: []\n")})
		}, false},
		{"turn anonymous read off", func() error { return db.SetNamespaceAnonymousRead(ctx, "public", &off, nil) }, true},
		{"revoke the grant", func() error { return db.DeleteGrant(ctx, Grant{User: "ci", Namespace: "team"}, nil) }, true},
		{"revoke the token", func() error { return db.RevokeToken(ctx, "tok-aaaaaaaaaa", nil) }, true},
		{"delete the user", func() error { return db.DeleteUser(ctx, "ci", nil) }, true},
	}
	gen, err := db.AuthGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		now, err := db.AuthGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if moved := now != gen; moved != st.moves {
			t.Errorf("%s: generation moved %v, want %v", st.name, moved, st.moves)
		}
		gen = now
	}
}

func TestTokensAndGrants(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if err := db.CreateUser(ctx, User{Name: "ci", PasswordHash: "h"}, []Grant{{Namespace: "*", Role: "reader"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, User{Name: "ci", PasswordHash: "h"}, nil, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("a second user ci: %v; want ErrExists", err)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	tok := Token{ID: "tok-bbbbbbbbbb", User: "ci", SecretHash: []byte("hash"), Scopes: []string{"team:push", "*:pull"}, Expires: exp, Description: "deploy"}
	if err := db.CreateToken(ctx, tok, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, Token{ID: "tok-cccccccccc", User: "nobody", SecretHash: []byte("x")}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a token of an unknown user: %v; want ErrNotFound", err)
	}
	got, err := db.GetToken(ctx, tok.ID)
	if err != nil || !reflect.DeepEqual(got.Scopes, tok.Scopes) || !got.Expires.Equal(exp) || got.User != "ci" || string(got.SecretHash) != "hash" || got.Description != "deploy" {
		t.Fatalf("token = %+v, %v", got, err)
	}
	used := time.Now().UTC()
	if err := db.TouchTokens(ctx, map[string]time.Time{tok.ID: used, "tok-gone000000": used}); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchTokens(ctx, map[string]time.Time{tok.ID: used.Add(-time.Hour)}); err != nil { // older: ignored
		t.Fatal(err)
	}
	if got, _ := db.GetToken(ctx, tok.ID); !got.LastUsed.Equal(used) {
		t.Fatalf("last used %v; want %v", got.LastUsed, used)
	}
	if err := db.SetGrant(ctx, Grant{TokenID: tok.ID, Namespace: "team", Role: "reader"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SetGrant(ctx, Grant{TokenID: tok.ID, Namespace: "team", Role: "maintainer"}, nil); err != nil { // replaces
		t.Fatal(err)
	}
	if err := db.SetGrant(ctx, Grant{User: "nobody", Namespace: "team", Role: "reader"}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a grant to an unknown user: %v; want ErrNotFound", err)
	}
	if err := db.DeleteGrant(ctx, Grant{User: "ci", Namespace: "team"}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking a role the user does not have: %v; want ErrNotFound", err)
	}
	st, err := db.LoadAuthState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Users) != 1 || len(st.Tokens) != 1 || len(st.Grants) != 2 || st.Grants[1].Role != "maintainer" {
		t.Fatalf("state = %+v", st)
	}
	if err := db.RevokeToken(ctx, tok.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeToken(ctx, "tok-dddddddddd", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking an unknown token: %v; want ErrNotFound", err)
	}
	if got, _ := db.GetToken(ctx, tok.ID); got.Revoked.IsZero() {
		t.Fatal("the revoked token is not marked revoked")
	}
	// Deleting the user removes its tokens and every grant of either.
	if err := db.DeleteUser(ctx, "ci", nil); err != nil {
		t.Fatal(err)
	}
	st, err = db.LoadAuthState(ctx)
	if err != nil || len(st.Users)+len(st.Tokens)+len(st.Grants) != 0 {
		t.Fatalf("after deleting the user: %+v, %v; want nothing left", st, err)
	}
}

// A change and its audit record are one transaction; the log is read newest first, by
// repository prefix, and pruned by age.
func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	base := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	if err := db.CreateUser(ctx, User{Name: "ci", PasswordHash: "h"}, nil, &AuditRecord{At: base, Actor: "cli:root", Action: "user.add", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	// A failed change records nothing.
	if err := db.CreateUser(ctx, User{Name: "ci", PasswordHash: "h"}, nil, &AuditRecord{At: base, Actor: "cli:root", Action: "user.add", Outcome: "ok"}); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	recs := []AuditRecord{
		{At: base.Add(time.Minute), Actor: "ci", TokenID: "tok-x", Address: "192.0.2.1", Action: "oci.manifest.put", Repository: "team/charts/app", Version: "1.0.0", Digest: "sha256:aa", Outcome: "ok"},
		{At: base.Add(2 * time.Minute), Address: "192.0.2.9", Action: "oci.manifest.get", Repository: "team/secret/app", Outcome: "unauthorized", Count: 7},
		{At: base.Add(3 * time.Minute), Actor: "ci", Address: "192.0.2.1", Action: "repo.api.charts.upload", Repository: "teamx/app", Outcome: "denied"},
	}
	if err := db.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	all, err := db.Audit(ctx, AuditQuery{})
	if err != nil || len(all) != 4 || all[0].Action != "repo.api.charts.upload" || all[3].Action != "user.add" || all[1].Count != 7 {
		t.Fatalf("audit log = %+v, %v", all, err)
	}
	for _, tc := range []struct {
		q    AuditQuery
		want []string // actions
	}{
		{AuditQuery{Repository: "team/*"}, []string{"oci.manifest.get", "oci.manifest.put"}},
		{AuditQuery{Repository: "team/charts/app"}, []string{"oci.manifest.put"}},
		{AuditQuery{Denied: true}, []string{"repo.api.charts.upload", "oci.manifest.get"}},
		{AuditQuery{Actor: "ci", Since: base.Add(2 * time.Minute)}, []string{"repo.api.charts.upload"}},
		{AuditQuery{Until: base.Add(time.Minute)}, []string{"user.add"}},
		{AuditQuery{Limit: 1, BeforeID: all[0].ID}, []string{"oci.manifest.get"}},
	} {
		got, err := db.Audit(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, r := range got {
			actions = append(actions, r.Action)
		}
		if !reflect.DeepEqual(actions, tc.want) {
			t.Errorf("Audit(%+v) = %q; want %q", tc.q, actions, tc.want)
		}
	}
	n, err := db.PruneAudit(ctx, base.Add(90*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("PruneAudit = %d, %v; want 2", n, err)
	}
	if left, _ := db.Audit(ctx, AuditQuery{}); len(left) != 2 {
		t.Fatalf("%d records left; want 2", len(left))
	}
}

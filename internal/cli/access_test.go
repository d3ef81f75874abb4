package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// The access control commands on serve's data directory: what they refuse (exit 2, saying
// what is wrong), and that a token's secret is printed once by token create and never again
// (token list, the audit log).
func TestAccessCommands(t *testing.T) {
	dir, _ := servedDataDir(t)
	dd := []string{"--data-dir", dir}
	cmd := func(args ...string) []string { return append(args, dd...) }

	run(t, "ci-password-1\n", cmd("user", "add", "ci", "--password-stdin")...).wantExit(t, 0)
	for _, c := range []struct {
		stdin string
		args  []string
		says  string
	}{
		{"short\n", cmd("user", "add", "bob", "--password-stdin"), "8"},
		{"ci-password-2\n", cmd("user", "add", "ci", "--password-stdin"), "ci"},
		{"", cmd("user", "add", "bad name!"), "bad name!"},
		{"", cmd("token", "create", "--user", "nobody"), "nobody"},
		{"", cmd("token", "create"), "--user"},
		{"", cmd("token", "create", "--user", "ci", "--scope", "team/a:fly"), "fly"},
		{"", cmd("token", "create", "--user", "ci", "--expires", "-1d"), "--expires"},
		{"", cmd("grant", "ci", "team/a", "emperor"), "emperor"},
		{"", cmd("grant", "ci", "../x", "reader"), "../x"},
		{"", cmd("grant", "ci", "team/a"), "three arguments"},
		{"", cmd("token", "revoke", "tok-aaaaaaaaaa"), "tok-aaaaaaaaaa"},
		{"", cmd("audit", "--since", "yesterday-ish"), "since"},
	} {
		r := run(t, c.stdin, c.args...)
		r.wantExit(t, 2)
		if !strings.Contains(r.stderr, c.says) {
			t.Errorf("chartroom %s: stderr %q does not say %q", strings.Join(c.args, " "), r.stderr, c.says)
		}
	}

	r := run(t, "", cmd("token", "create", "--user", "ci", "--scope", "team/a:push", "-o", "json")...)
	r.wantExit(t, 0)
	var tok tokenJSON
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.Token == "" || tok.ID == "" {
		t.Fatalf("token create -o json: %v\n%s", err, r.stdout)
	}
	run(t, "", cmd("grant", "ci", "team/*", "publisher")...).wantExit(t, 0)
	list := run(t, "", cmd("token", "list", "-o", "json")...)
	list.wantExit(t, 0)
	users := run(t, "", cmd("user", "list", "-o", "json")...)
	users.wantExit(t, 0)
	audit := run(t, "", cmd("audit", "-o", "json")...)
	audit.wantExit(t, 0)
	for what, out := range map[string]string{"token list": list.stdout, "user list": users.stdout, "audit": audit.stdout} {
		if strings.Contains(out, tok.Token) || strings.Contains(out, strings.TrimPrefix(tok.Token, "chartroom_"+tok.ID+"_")) {
			t.Errorf("%s prints the token's secret:\n%s", what, out)
		}
		if strings.Contains(out, "ci-password-1") {
			t.Errorf("%s prints a password:\n%s", what, out)
		}
	}
	for _, want := range []string{tok.ID, "team/a:push"} {
		if !strings.Contains(list.stdout, want) {
			t.Errorf("token list lacks %s:\n%s", want, list.stdout)
		}
	}
	for _, want := range []string{`"token.create"`, `"grant"`, `"user.add"`} {
		if !strings.Contains(audit.stdout, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, audit.stdout)
		}
	}
	run(t, "", cmd("token", "revoke", tok.ID)...).wantExit(t, 0)
	list = run(t, "", cmd("token", "list", "--all", "-o", "json")...)
	if !strings.Contains(list.stdout, `"revoked"`) {
		t.Errorf("token list --all after revoke:\n%s", list.stdout)
	}
}

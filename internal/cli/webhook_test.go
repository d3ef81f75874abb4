package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chartroom webhook add, list, deliveries and delete work on serve's data directory; a
// generated secret is printed once and never listed; a local receiver needs --allow-local.
func TestWebhookCommand(t *testing.T) {
	dir, _ := servedDataDir(t)

	r := run(t, "", "webhook", "add", "team", "https://ci.example.com/hooks/chartroom", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 0)
	var added webhookResult
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.ID == 0 || len(added.Secret) != 64 || len(added.Events) != 3 {
		t.Fatalf("add -o json: %v\n%s", err, r.stdout)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("given-secret-of-some-length\n"), 0o600)
	r = run(t, "", "webhook", "add", "/", "http://127.0.0.1:9/hook", "--allow-local", "--events", "chart.published",
		"--secret-file", secretFile, "--data-dir", dir)
	r.wantExit(t, 0)
	if strings.Contains(r.stdout, "given-secret") || strings.Contains(r.stdout, "secret (shown") {
		t.Errorf("add printed a secret it was given:\n%s", r.stdout)
	}

	for _, args := range [][]string{{"webhook", "list"}, {"webhook", "list", "-o", "json"}} {
		r = run(t, "", append(args, "--data-dir", dir)...)
		r.wantExit(t, 0)
		if strings.Contains(r.stdout, added.Secret) || strings.Contains(r.stdout, "given-secret") {
			t.Errorf("%s shows a secret:\n%s", strings.Join(args, " "), r.stdout)
		}
		if !strings.Contains(r.stdout, "https://ci.example.com/hooks/chartroom") || !strings.Contains(r.stdout, "http://127.0.0.1:9/hook") {
			t.Errorf("%s lacks a webhook:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	r = run(t, "", "webhook", "deliveries", "--data-dir", dir)
	r.wantExit(t, 0)
	if !strings.Contains(r.stdout, "no deliveries") {
		t.Errorf("deliveries: %s", r.stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"loopback", []string{"team", "http://127.0.0.1:8080/hook"}, "--allow-local"},
		{"metadata service", []string{"team", "http://169.254.169.254/latest"}, "link-local"},
		{"localhost", []string{"team", "http://localhost/hook"}, "--allow-local"},
		{"not http", []string{"team", "ftp://ci.example.com/hook"}, "only http and https"},
		{"credentials", []string{"team", "https://u:p@ci.example.com/hook"}, "credentials"},
		{"unknown event", []string{"team", "https://ci.example.com/hook", "--events", "chart.pushed"}, "unknown event"},
		{"short secret", []string{"team", "https://ci.example.com/hook", "--secret", "short"}, "at least 16"},
		{"bad namespace", []string{"Team", "https://ci.example.com/hook"}, `namespace "Team"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, "", append(append([]string{"webhook", "add"}, tc.args...), "--data-dir", dir)...)
			r.wantExit(t, 2)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q: %s", tc.want, r.stderr)
			}
		})
	}

	r = run(t, "", "webhook", "delete", "1", "--data-dir", dir)
	r.wantExit(t, 0)
	r = run(t, "", "webhook", "delete", "1", "--data-dir", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "there is no webhook 1") {
		t.Errorf("deleting again: %d %s", r.code, r.stderr)
	}
	r = run(t, "", "webhook", "list", "--data-dir", dir)
	if strings.Contains(r.stdout, "ci.example.com") {
		t.Errorf("after delete:\n%s", r.stdout)
	}
	// Adding and deleting webhooks is in the audit log, without their secrets.
	r = run(t, "", "audit", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 0)
	for _, want := range []string{`"webhook.add"`, `"webhook.delete"`, `"webhook 1`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit lacks %s:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, added.Secret) || strings.Contains(r.stdout, "given-secret") {
		t.Errorf("audit shows a webhook secret:\n%s", r.stdout)
	}
}

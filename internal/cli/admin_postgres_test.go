package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// The admin commands work on the database of serve's configuration: with PostgreSQL (the
// replicas' shared database), the same as with a data directory's SQLite.
func TestAdminCommandsOnPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	cfg := filepath.Join(t.TempDir(), "chartroom.yaml")
	if err := os.WriteFile(cfg, []byte("database: "+url+"\ndata-dir: "+filepath.Join(t.TempDir(), "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "", "user", "add", "alice", "--config", cfg).wantExit(t, 0)
	run(t, "", "grant", "alice", "team/*", "publisher", "--config", cfg).wantExit(t, 0)
	r := run(t, "", "token", "create", "--user", "alice", "--scope", "team/a:push", "--config", cfg)
	r.wantExit(t, 0)
	run(t, "", "namespace", "set", "team/a", "--anonymous-read", "--config", cfg).wantExit(t, 0)
	run(t, "", "webhook", "add", "team/a", "https://ci.example.com/hooks", "--config", cfg).wantExit(t, 0)
	run(t, "", "policy", "set", "team/a", "--semver-discipline", "warn", "--config", cfg).wantExit(t, 0)
	for args, want := range map[string]string{
		"user list":      "alice",
		"token list":     "team/a:push",
		"namespace show": "anonymous",
		"webhook list":   "https://ci.example.com/hooks",
		"audit":          "user.add",
		"policy show":    "warn",
	} {
		a := strings.Fields(args)
		if args == "namespace show" || args == "policy show" {
			a = append(a, "team/a")
		}
		r := run(t, "", append(a, "--config", cfg)...)
		r.wantExit(t, 0)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%s: %q not in\n%s", args, want, r.stdout)
		}
	}
}

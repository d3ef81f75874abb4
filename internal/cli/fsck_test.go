package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/server"
)

// servedDataDir runs the real server on a new data directory, publishes a signed chart into it
// with chartroom push (OCI) and stops. It returns the directory and the archive's digest.
func servedDataDir(t *testing.T) (string, digest.Digest) {
	t.Helper()
	isolateHome(t)
	cfg := server.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AdminPassword = cliPassword
	s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Setenv(envUsername, cliUser)
	t.Setenv(envPassword, cliPassword)
	archive := cliArchive(t, t.TempDir(), "myapp", "1.2.0", "a")
	signArchive(t, archive, "publisher")
	run(t, "", "push", archive, "oci://"+strings.TrimPrefix(srv.URL, "http://")+"/team", "--plain-http").wantExit(t, 0)
	srv.Close()
	s.Close()
	b, _ := os.ReadFile(archive)
	return cfg.DataDir, digest.FromBytes(b)
}

func blobFile(dir string, d digest.Digest) string {
	return filepath.Join(dir, server.BlobsDir, "blobs", "sha256", d.Encoded()[:2], d.Encoded())
}

func TestFsckCommand(t *testing.T) {
	dir, archive := servedDataDir(t)

	r := run(t, "", "fsck", "--data-dir", dir)
	r.wantExit(t, 0)
	for _, w := range []string{"database ", "blobs ", "manifests ", "charts ", "orphans ", "leftovers ", "1 live version checked", "no problems found"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("fsck output lacks %q:\n%s", w, r.stdout)
		}
	}

	// The same directory named by serve's config file.
	config := filepath.Join(t.TempDir(), "chartroom.yaml")
	os.WriteFile(config, []byte("listen: 127.0.0.1:0\ndata-dir: "+dir+"\n"), 0o600)
	run(t, "", "fsck", "--config", config).wantExit(t, 0)

	if err := os.Truncate(blobFile(dir, archive), 100); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "fsck", "--data-dir", dir)
	r.wantExit(t, 1, "2 problems found", "fsck")
	for _, w := range []string{"PROBLEM blob-corrupt " + archive.String(), "PROBLEM chart-content chart myapp 1.2.0", "means:", "do:", "--repair"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("fsck output lacks %q:\n%s", w, r.stdout)
		}
	}

	r = run(t, "", "fsck", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 1)
	var rep struct {
		Problems int
		Findings []struct{ Kind, Severity, Subject, Meaning, Action string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Problems != 2 || len(rep.Findings) != 2 {
		t.Fatalf("fsck -o json: %v %+v\n%s", err, rep, r.stdout)
	}

	r = run(t, "", "fsck", "--data-dir", dir, "--repair")
	r.wantExit(t, 1)
	if !strings.Contains(r.stdout, "repaired: moved to "+filepath.Join(dir, LostFoundDir)) {
		t.Errorf("fsck --repair output:\n%s", r.stdout)
	}
	r = run(t, "", "fsck", "--data-dir", dir)
	r.wantExit(t, 1)
	if !strings.Contains(r.stdout, "PROBLEM blob-missing "+archive.String()) || !strings.Contains(r.stdout, "copy the file from your latest backup") {
		t.Errorf("after the repair, the archive is missing and must come from a backup:\n%s", r.stdout)
	}

	run(t, "", "fsck", "--data-dir", filepath.Join(dir, "nope")).wantExit(t, 2, "nope")
	run(t, "", "fsck", "--data-dir", t.TempDir()).wantExit(t, 2, "no chartroom database and no blobs")
	run(t, "", "fsck", "--data-dir", dir, "--stale-after", "0s").wantExit(t, 2, "--stale-after")
}

func TestBackupCommand(t *testing.T) {
	dir, archive := servedDataDir(t)
	dest := filepath.Join(t.TempDir(), "backup")

	r := run(t, "", "backup", "--data-dir", dir, dest, "-o", "json")
	r.wantExit(t, 0)
	var res backupResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Blobs != 3 || res.Database != filepath.Join(dest, server.DatabaseFile) {
		t.Fatalf("backup -o json: %v %+v (want the archive, provenance and config: 3 blobs)", err, res)
	}
	run(t, "", "fsck", "--data-dir", dest).wantExit(t, 0)
	original, _ := os.ReadFile(blobFile(dir, archive))
	if copied, err := os.ReadFile(blobFile(dest, archive)); err != nil || string(copied) != string(original) {
		t.Fatalf("the backup's archive differs: %v", err)
	}

	run(t, "", "backup", "--data-dir", dir, dest).wantExit(t, 2, "not empty")

	// A damaged blob stops the backup, which keeps nothing.
	if err := os.Truncate(blobFile(dir, archive), 100); err != nil {
		t.Fatal(err)
	}
	dest2 := filepath.Join(t.TempDir(), "backup")
	run(t, "", "backup", "--data-dir", dir, dest2).wantExit(t, 2, "damaged", "chartroom fsck", "nothing was kept")
	if _, err := os.Stat(dest2); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s: %v", dest2, err)
	}

	// No database: nothing to back up.
	os.Remove(filepath.Join(dir, server.DatabaseFile))
	run(t, "", "backup", "--data-dir", dir, filepath.Join(t.TempDir(), "b")).wantExit(t, 2, "chartroom fsck")
}

// The commands that work on a data directory's SQLite database refuse, saying why, when
// serve's configuration puts the database in PostgreSQL, instead of reporting the data
// directory's (absent) SQLite database.
func TestDataDirCommandsRefusePostgres(t *testing.T) {
	t.Setenv("CHARTROOM_DATABASE", "postgres://chartroom:s3cret@db.example:5432/chartroom")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"fsck", "--data-dir", dir},
		{"backup", "--data-dir", dir, filepath.Join(t.TempDir(), "b")},
	} {
		r := run(t, "", args...)
		if r.code == 0 || !strings.Contains(r.stderr, "PostgreSQL") || !strings.Contains(r.stderr, "pg_dump") || strings.Contains(r.stderr, "s3cret") {
			t.Errorf("%v: exit %d, stderr %q; want a refusal naming PostgreSQL and pg_dump, without the password", args, r.code, r.stderr)
		}
	}
}

// TestFsckAndBackupOnS3Storage: with blobs kept in S3 (storage: in serve's config file),
// fsck refuses instead of reporting every blob missing, and backup copies the database only
// and says where the blobs stay.
func TestFsckAndBackupOnS3Storage(t *testing.T) {
	dir, _ := servedDataDir(t)
	config := filepath.Join(t.TempDir(), "chartroom.yaml")
	os.WriteFile(config, []byte("data-dir: "+dir+"\nstorage: s3://charts/reg?endpoint=http://127.0.0.1:9&path-style=true\n"), 0o600)

	run(t, "", "fsck", "--config", config).wantExit(t, 2, "s3://charts/reg", "does not check S3 storage")

	dest := filepath.Join(t.TempDir(), "backup")
	r := run(t, "", "backup", "--config", config, dest)
	r.wantExit(t, 0)
	if !strings.Contains(r.stdout, "not copied: they stay in s3://charts/reg") {
		t.Errorf("backup output:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dest, server.DatabaseFile)); err != nil {
		t.Errorf("the database was not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, server.BlobsDir)); !os.IsNotExist(err) {
		t.Errorf("blobs were copied from the data directory: %v", err)
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The data directory's care: the start-up refusal of a lost database, chartroom fsck on a
// served directory, and the backup and restore procedure of the README, all with the real
// binary.

// runChartroom runs the binary with args (no CHARTROOM_* settings from the developer's
// environment) and returns its exit code, stdout and stderr.
func runChartroom(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(chartroomBin(t), args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("chartroom %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// mustRun runs a command of the README's procedure and fails the test unless it exits 0.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// blobFile is where the filesystem store keeps a blob ("sha256:<hex>") in a data directory.
func blobFile(dataDir, digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(dataDir, "blobs", "blobs", "sha256", hex[:2], hex)
}

// published is what a test pushed and later expects to be served unchanged.
type published struct {
	charts map[string][]byte // "name-version" → archive
	images []*image
}

// publish uploads two chart versions over the classic API and pushes an image over OCI.
func publish(t *testing.T, c *ociClient) published {
	t.Helper()
	p := published{charts: map[string][]byte{}}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		archive := repoArchive(t, "myapp", v, "")
		resp, body, err := c.do("POST", "/api/team/charts", archive, map[string]string{"Content-Type": "application/gzip"})
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload myapp %s: %v %v %s", v, err, resp, body)
		}
		p.charts["myapp-"+v] = archive
	}
	img := newImage("team/images/app", "v1", 64<<10)
	if err := c.push(img); err != nil {
		t.Fatal(err)
	}
	p.images = append(p.images, img)
	return p
}

// check fails the test unless the server serves everything in p: every archive over the
// classic repository and over OCI (by its tag), every image.
func (p published) check(t *testing.T, c *ociClient) {
	t.Helper()
	for name, want := range p.charts {
		if got := repoGet(t, c, "/team/charts/"+name+".tgz", http.StatusOK); !bytes.Equal(got, want) {
			t.Errorf("%s.tgz differs from the published archive", name)
		}
		version := strings.TrimPrefix(name, "myapp-")
		status, body, _, err := c.getManifest("team/myapp", version)
		if err != nil || status != http.StatusOK {
			t.Fatalf("OCI manifest of myapp %s: %d %v", version, status, err)
		}
		var m struct{ Layers []struct{ Digest string } }
		json.Unmarshal(body, &m)
		if len(m.Layers) != 1 || m.Layers[0].Digest != digestOf(want) {
			t.Errorf("OCI manifest of myapp %s names layers %+v; want the archive %s", version, m.Layers, digestOf(want))
		}
		if status, got, err := c.getBlob("team/myapp", digestOf(want)); err != nil || status != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("OCI blob of myapp %s: %d %v", version, status, err)
		}
	}
	idx := repoGetIndex(t, c, "team")
	if got := len(idx.Entries["myapp"]); got != len(p.charts) {
		t.Errorf("index.json lists %d versions of myapp; want %d", got, len(p.charts))
	}
	for _, img := range p.images {
		if err := c.verify(img); err != nil {
			t.Error(err)
		}
	}
}

type fsckReport struct {
	Problems int `json:"problems"`
	Notes    int `json:"notes"`
	Findings []struct {
		Kind, Severity, Subject, Detail, Meaning, Action, Repaired string
	} `json:"findings"`
}

// fsck runs chartroom fsck -o json on dir and returns its exit code and report.
func fsck(t *testing.T, dir string, extra ...string) (int, fsckReport) {
	t.Helper()
	code, stdout, stderr := runChartroom(t, append([]string{"fsck", "--data-dir", dir, "-o", "json"}, extra...)...)
	var r fsckReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("fsck -o json (exit %d): %v\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
	}
	return code, r
}

func (r fsckReport) has(kind, subject string) bool {
	for _, f := range r.Findings {
		if f.Kind == kind && strings.Contains(f.Subject, subject) {
			return true
		}
	}
	return false
}

// serveOnce runs chartroom serve on dataDir until it exits; if it starts listening instead,
// it is stopped and the test fails.
func serveOnce(t *testing.T, dataDir string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(chartroomBin(t), "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-format", "json")
	cmd.Env = cleanEnv()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), `"msg":"listening"`) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("serve started on the data directory instead of refusing:\n%s", stderr.String())
		}
	}
	cmd.Wait()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// TestServeRefusesLostDatabase: a zero-length or garbage chartroom.db next to populated
// blobs stops serve with a clear message; nothing is written, no admin password is made up.
func TestServeRefusesLostDatabase(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	if err := adminClient(srv).push(newImage("team/ops/app", "v1", 4096)); err != nil {
		t.Fatal(err)
	}
	if code := srv.Stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	db := filepath.Join(srv.DataDir, "chartroom.db")
	blobs := filepath.Join(srv.DataDir, "blobs")
	for _, tt := range []struct {
		name    string
		content []byte
		want    []string
	}{
		{"zero-length", []byte{}, []string{"refusing to start", db, blobs, "probably lost or misplaced", "Backup and restore", "chartroom fsck", "move " + blobs + " away"}},
		{"not a database", bytes.Repeat([]byte("not sqlite "), 500), []string{"refusing to start", db, "not a SQLite database or is corrupt", "restore it from your backup", "Backup and restore"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(db, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			// No CHARTROOM_ADMIN_PASSWORD: a fresh start would log a generated password.
			code, stdout, stderr := serveOnce(t, srv.DataDir)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 2 || len(lines) != 1 {
				t.Fatalf("serve exit %d, stderr %q; want exit 2 and one line", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q lacks %q", lines[0], w)
				}
			}
			if strings.Contains(stdout+stderr, "password") || strings.Contains(stdout+stderr, "created user") {
				t.Errorf("serve created a user: %s%s", stdout, stderr)
			}
			if got, err := os.ReadFile(db); err != nil || !bytes.Equal(got, tt.content) {
				t.Errorf("the database file changed: %d bytes, %v", len(got), err)
			}
			for _, suffix := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(db + suffix); err == nil {
					t.Errorf("serve created %s", db+suffix)
				}
			}
		})
	}
}

// TestFsckServedDataDir runs fsck beside the running server: clean, then with a damaged
// chart archive, repaired (moved aside), and healed by copying the blob from a backup as the
// README says.
func TestFsckServedDataDir(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	c := adminClient(srv)
	p := publish(t, c)
	if code, r := fsck(t, srv.DataDir); code != 0 || r.Problems != 0 {
		t.Fatalf("fsck of a served data directory: exit %d, %+v", code, r)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if code, _, stderr := runChartroom(t, "backup", "--data-dir", srv.DataDir, backup); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}

	archive := digestOf(p.charts["myapp-1.0.0"])
	f := blobFile(srv.DataDir, archive)
	if err := os.Truncate(f, 20); err != nil {
		t.Fatal(err)
	}
	code, r := fsck(t, srv.DataDir)
	if code != 1 || !r.has("blob-corrupt", archive) || !r.has("chart-content", "myapp 1.0.0") {
		t.Fatalf("fsck of a damaged archive: exit %d, %+v", code, r)
	}
	code, r = fsck(t, srv.DataDir, "--repair")
	if code != 1 {
		t.Fatalf("fsck --repair: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, "lost+found", "sha256-"+strings.TrimPrefix(archive, "sha256:"))); err != nil {
		t.Fatalf("the damaged archive is not in lost+found: %v (%+v)", err, r)
	}
	if code, r = fsck(t, srv.DataDir); code != 1 || !r.has("blob-missing", archive) {
		t.Fatalf("after the repair: exit %d, %+v; want the archive reported missing", code, r)
	}
	// README: copy the blob from any backup taken after it was pushed.
	mustRun(t, "cp", "-p", blobFile(backup, archive), f)
	if code, r = fsck(t, srv.DataDir); code != 0 {
		t.Fatalf("after restoring the blob: exit %d, %+v", code, r)
	}
	p.check(t, c)
}

// TestBackupRestore follows README's "Backup and restore": back up while the server runs
// and takes pushes (with chartroom backup, and by hand with sqlite3 and cp), restore into the
// data directory, check with fsck, and serve the same charts.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	srv := StartServer(t)
	c := adminClient(srv)
	p := publish(t, c)
	backups := t.TempDir()
	backup := filepath.Join(backups, "chartroom-backup")

	// Pushes keep landing while the backup runs: whatever it catches of them, it is consistent.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.push(newImage("team/busy/app", fmt.Sprintf("v%d", i), 32<<10)); err != nil {
				t.Errorf("push during the backup: %v", err)
				return
			}
		}
	}()
	code, stdout, stderr := runChartroom(t, "backup", "--data-dir", srv.DataDir, backup)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("chartroom backup: exit %d\n%s%s", code, stdout, stderr)
	}

	// By hand, as the README shows for those who copy blobs with their own tools.
	manual := filepath.Join(backups, "manual")
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		missing(t, "sqlite3 is not installed (apt-get install sqlite3): the README's manual backup uses it")
	}
	os.MkdirAll(filepath.Join(manual, "blobs"), 0o750)
	mustRun(t, sqlite3, filepath.Join(srv.DataDir, "chartroom.db"), ".backup '"+filepath.Join(manual, "chartroom.db")+"'")
	mustRun(t, "cp", "-a", filepath.Join(srv.DataDir, "blobs", "blobs"), filepath.Join(manual, "blobs")+"/")

	for _, dir := range []string{backup, manual} {
		if code, r := fsck(t, dir); code != 0 || r.Problems != 0 {
			t.Fatalf("fsck of the backup %s: exit %d, %+v", dir, code, r)
		}
	}

	// Restore: stop, keep the old directory aside, copy the backup in, check, start.
	if code := srv.Stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	mustRun(t, "mv", srv.DataDir, srv.DataDir+".old")
	mustRun(t, "cp", "-a", backup, srv.DataDir)
	if code, r := fsck(t, srv.DataDir); code != 0 {
		t.Fatalf("fsck of the restored data directory: exit %d, %+v", code, r)
	}
	srv.Restart()
	p.check(t, adminClient(srv))

	// The manual backup serves the same, with the users it recorded.
	other := StartServer(t, "--data-dir", manual)
	p.check(t, newOCIClient(other, "admin", srv.Password))
}

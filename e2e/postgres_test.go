package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Two `chartroom serve` processes on one PostgreSQL database, each with its own data
// directory (B's blob store is A's, through a symlink: there is no shared blob backend to
// point both at): a chart uploaded to A is listed in B's index (which B had cached before)
// under the same ETag as A's, and downloads from B; the same version with other bytes is
// refused on B (409).
func TestReplicasShareOnePostgres(t *testing.T) {
	database := startPostgres(t)
	a := StartServer(t, "--database", database)
	b := &Server{
		t: t, bin: chartroomBin(t), DataDir: t.TempDir(), Password: a.Password,
		Args: []string{"--database", database}, addr: "127.0.0.1:0", logs: &logBuffer{},
		scheme: "http", probe: http.DefaultClient,
	}
	if err := os.Symlink(filepath.Join(a.DataDir, "blobs"), filepath.Join(b.DataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.cleanup)
	b.start()
	ca, cb := newOCIClient(a, "admin", a.Password), newOCIClient(b, "admin", a.Password)

	index := func(c *ociClient) (string, string) {
		t.Helper()
		resp, body, err := c.do("GET", "/team/index.yaml", nil, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("index: %v %v %s", err, resp, body)
		}
		return string(body), resp.Header.Get("ETag")
	}
	before, _ := index(cb)

	archive := repoArchive(t, "shared", "1.0.0", "first")
	repoUploadArchive(t, ca, "team", archive)
	bodyA, etagA := index(ca)
	bodyB, etagB := index(cb)
	if bodyB == before || !strings.Contains(bodyB, "version: 1.0.0") {
		t.Fatalf("B's index does not list the chart uploaded to A:\n%s", bodyB)
	}
	if bodyA != bodyB || etagA == "" || etagA != etagB {
		t.Fatalf("the replicas' indexes differ: A %s, B %s\n%s\n---\n%s", etagA, etagB, bodyA, bodyB)
	}
	resp, got, err := cb.do("GET", "/team/charts/shared-1.0.0.tgz", nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK || string(got) != string(archive) {
		t.Fatalf("download from B: %v %v (%d bytes, want %d)", err, resp, len(got), len(archive))
	}
	resp, body, err := cb.do("POST", repoAPI("team", "charts"), repoArchive(t, "shared", "1.0.0", "other"), map[string]string{"Content-Type": "application/gzip"})
	if err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("other bytes for 1.0.0 on B: %v %v %s; want 409", err, resp, body)
	}
}

// startPostgres runs a PostgreSQL server (Debian's postgresql package) in a temporary
// directory on a loopback port for the test, and returns the URL of its database. Without
// the package the test is skipped, or fails in CI.
func startPostgres(t *testing.T) string {
	t.Helper()
	bin := ""
	// Debian links some of the binaries into /usr/local/bin or /usr/bin: the others are beside
	// the link's target.
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			bin = filepath.Dir(p)
		}
	}
	if bin == "" {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool {
			vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
			vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
			return vi > vj
		})
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				bin = d
				break
			}
		}
	}
	if bin == "" {
		missing(t, "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin): install Debian's postgresql package")
	}
	dir, err := os.MkdirTemp("", "chartroom-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// initdb and postgres refuse to run as root: run them as the postgres user.
	attr := &syscall.SysProcAttr{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and there is no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// Under a shell that stops the server when its stdin closes: at cleanup, and also when
	// the test binary dies first.
	cmd := exec.Command("/bin/sh", "-c", `"$@" & pid=$!; read -r _; kill -INT $pid; wait $pid`, "sh",
		filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir, "-c", "fsync=off")
	cmd.SysProcAttr = attr
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("postgres log:\n%s", tail(logs.String(), 50))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		// pg_isready: accepting connections, not only listening (a starting server refuses them).
		out, err := exec.Command(filepath.Join(bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(port)).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not start: pg_isready: %v %s\n%s", err, out, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// Package pgtest runs a real PostgreSQL server for tests: initdb in a temporary directory, the
// server on a loopback port with its unix socket in that directory, one server per test binary
// (started on first use, stopped by Main), and a fresh database for each test that asks.
//
// The server is Debian's `postgresql` package (initdb and postgres on PATH, or under
// /usr/lib/postgresql/<version>/bin). When it is not installed, tests that need it are skipped
// with a message, or fail when CI=true: CI must run them (.ci/run installs the package).
//
// Tests that can run on either database choose with Selected: the environment variable
// CHARTROOM_TEST_DATABASE=postgres runs them on PostgreSQL (the Makefile's unit target runs
// the database-backed packages once each way).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the admin connection
)

// EnvDatabase is the environment variable that selects the database of database-backed tests.
const EnvDatabase = "CHARTROOM_TEST_DATABASE"

// Selected reports whether tests should run on PostgreSQL (CHARTROOM_TEST_DATABASE=postgres).
func Selected() bool { return os.Getenv(EnvDatabase) == "postgres" }

// Main runs m's tests and then stops the server, if one was started; from TestMain:
// os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	srv.stop()
	return code
}

// NewDatabase creates an empty database on the test binary's server (starting it first if
// needed) and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s, err := srv.get()
	if errors.Is(err, errNotInstalled) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: %v; CI must run the PostgreSQL tests: install Debian's postgresql package (.ci/run does)", err)
		}
		t.Skipf("pgtest: %v; skipping (install Debian's postgresql package to run this test)", err)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("t%d", s.n)
	s.mu.Unlock()
	ctx := context.Background()
	if _, err := s.admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	// Not dropped when the test ends (that costs time, and a server under test may still be
	// closing its connections): the whole server goes when the test binary ends.
	return s.url(name)
}

var errNotInstalled = errors.New("PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin)")

// server is the test binary's PostgreSQL server.
type server struct {
	once  sync.Once
	err   error
	dir   string
	port  int
	cmd   *exec.Cmd
	stdin io.WriteCloser // closing it stops the server (see start)
	admin *sql.DB

	mu sync.Mutex
	n  int
}

var srv = &server{}

func (s *server) get() (*server, error) {
	s.once.Do(func() { s.err = s.start() })
	return s, s.err
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	// Debian links some of the binaries into /usr/local/bin or /usr/bin: the others are beside
	// the link's target.
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errNotInstalled
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (s *server) start() (err error) {
	bin, err := binDir()
	if err != nil {
		return err
	}
	s.dir, err = os.MkdirTemp("", "chartroom-pgtest-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	// initdb and postgres refuse to run as root: run them as the postgres user.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(s.dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	// The server runs under a shell that stops it (fast shutdown) when its stdin closes: when
	// Main stops it, and also when the test binary dies without stopping it.
	script := `"$@" & pid=$!; read -r _; kill -INT $pid; wait $pid`
	s.cmd = exec.Command("/bin/sh", "-c", script, "sh",
		filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	logFile, err := os.Create(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	if cred != nil {
		_ = logFile.Chown(int(cred.Uid), int(cred.Gid))
	}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.admin, err = sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	s.admin.SetMaxOpenConns(4)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = s.admin.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			return fmt.Errorf("postgres did not start: %w\n%s", err, strings.TrimSpace(string(log)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		s.stdin.Close()
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Package servertest runs chartroom's real server in-process for the tests of its clients:
// the assembly `chartroom serve` uses (SQLite and a filesystem blob store in a temporary
// directory, the OCI API under /v2/, the classic repositories everywhere else, the
// middleware) on an httptest listener, with user admin and a chosen password.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/chartroom/chartroom/internal/server"
)

// Server is a running in-process chartroom.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Host string // 127.0.0.1:PORT
}

// Start serves a fresh chartroom until the test ends; user admin has password.
func Start(t testing.TB, password string) *Server {
	t.Helper()
	s := newChartroom(t, password)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	u, _ := url.Parse(srv.URL)
	return &Server{URL: srv.URL, Host: u.Host}
}

// newChartroom assembles a fresh chartroom over a temporary data directory.
func newChartroom(t testing.TB, password string) *server.Server {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.AdminPassword = password
	s, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

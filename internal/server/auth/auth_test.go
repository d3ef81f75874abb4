package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/chartroom/chartroom/internal/meta"
)

func newService(t *testing.T, opts Options) *Service {
	t.Helper()
	db, err := meta.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "chartroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(db, opts)
	if err := s.Bootstrap(context.Background(), "s3cret", slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthorize(t *testing.T) {
	cases := []struct {
		name      string
		anonRead  bool
		user      string
		pass      string
		action    Action
		wantError error
	}{
		{"admin pushes", false, "admin", "s3cret", Push, nil},
		{"admin deletes", false, "admin", "s3cret", Delete, nil},
		{"wrong password", false, "admin", "nope", Pull, ErrUnauthenticated},
		{"unknown user", false, "eve", "s3cret", Pull, ErrUnauthenticated},
		{"anonymous pull refused by default", false, "", "", Pull, ErrUnauthenticated},
		{"anonymous pull with anonymous read", true, "", "", Pull, nil},
		{"anonymous push never", true, "", "", Push, ErrUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t, Options{AnonymousRead: tc.anonRead})
			r := httptest.NewRequest("GET", "/v2/", nil)
			if tc.user != "" {
				r.SetBasicAuth(tc.user, tc.pass)
			}
			for i := 0; i < 2; i++ { // the second time from the cache
				_, err := s.Authorize(r, RepositoryTarget("team/app"), tc.action)
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("attempt %d: got %v, want %v", i, err, tc.wantError)
				}
			}
		})
	}
}

func TestConcurrentFirstRequestsAgree(t *testing.T) {
	s := newService(t, Options{UserFailures: 100}) // the wrong half must not throttle the right one
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := httptest.NewRequest("GET", "/v2/", nil)
			pass := "s3cret"
			if i%2 == 1 {
				pass = "wrong"
			}
			r.SetBasicAuth("admin", pass)
			_, errs[i] = s.Authenticate(r)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i%2 == 1) != errors.Is(err, ErrUnauthenticated) {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

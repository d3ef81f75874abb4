package server

import (
	"os"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// TestMain stops the PostgreSQL server the tests started, if any.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

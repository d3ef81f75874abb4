package ui_test

import (
	"os"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// TestMain stops the PostgreSQL server the tests started, if any (CHARTROOM_TEST_DATABASE=postgres).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

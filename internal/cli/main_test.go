package cli

import (
	"os"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
)

// TestMain stops the PostgreSQL server a test may have started (pgtest).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

package cli

import (
	"context"
	"os"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
	"github.com/chartroom/chartroom/internal/sandbox"
)

// TestMain stops the PostgreSQL server a test may have started (pgtest). Started as
// `cli.test __render` (the render child of a server a test runs), it is that child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.ChildCommand {
		os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(pgtest.Main(m))
}

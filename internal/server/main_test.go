package server

import (
	"os"
	"testing"

	"github.com/chartroom/chartroom/internal/meta/pgtest"
	"github.com/chartroom/chartroom/internal/sandbox"
)

// TestMain stops the PostgreSQL server the tests started, if any. Started as
// `server.test __render` (the render child of a server a test runs), it is that child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.ChildCommand {
		if err := sandbox.Child(os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(pgtest.Main(m))
}

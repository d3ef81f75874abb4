package fs

import (
	"testing"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/blob/blobtest"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

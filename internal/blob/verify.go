package blob

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
)

// verifyBufferSize is the chunk size Verify reads with.
const verifyBufferSize = 1 << 20

// Verify reads blob d whole from o, streaming, and checks that its bytes hash to d. It
// returns how many bytes it read. A blob whose bytes hash to something else is
// ErrDigestMismatch, wrapped with the digest they do hash to; a missing one ErrNotFound.
// Backends verify on write; Verify is for checking what is stored since (chartroom fsck).
func Verify(ctx context.Context, o Opener, d digest.Digest) (int64, error) {
	if err := Validate(d); err != nil {
		return 0, fmt.Errorf("verify %q: %w", d, err)
	}
	rc, err := o.Open(ctx, d, 0)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	h := d.Algorithm().Hash()
	buf := make([]byte, verifyBufferSize)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("verify %s: %w", d, err)
		}
		m, rerr := rc.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("verify %s: read: %w", d, rerr)
		}
	}
	if actual := digest.NewDigest(d.Algorithm(), h); actual != d {
		return n, fmt.Errorf("verify %s: %w: its %d bytes hash to %s", d, ErrDigestMismatch, n, actual)
	}
	return n, nil
}

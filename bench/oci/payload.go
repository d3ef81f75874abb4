package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
)

// Blob contents. A throughput blob is a 32-byte header naming it (run seed, set, index)
// followed by a shared block of random bytes, so every blob has its own digest while the
// generator holds one block in memory and spends no CPU making bytes during the timed phases.
// The big blob is generated block by block as it is sent (a 1 MiB random block, each copy
// stamped with its index), so it is never held in memory by the load generator either.

const headerSize = 32

// bigBlock is the size of the big blob generator's repeating block.
const bigBlock = 1 << 20

// randomBytes returns n pseudo-random bytes from seed (incompressible, reproducible).
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6f6369))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint64())
	}
	return b
}

// blobSpec is one throughput blob: header + base[headerSize:].
type blobSpec struct {
	header [headerSize]byte
	base   []byte // shared, len = blob size
	digest string
}

func newBlobSpec(base []byte, seed uint64, set string, i int) *blobSpec {
	b := &blobSpec{base: base}
	copy(b.header[:], fmt.Sprintf("%016x/%s/%08d", seed, set, i))
	h := sha256.New()
	h.Write(b.header[:])
	h.Write(base[headerSize:])
	b.digest = fmt.Sprintf("sha256:%x", h.Sum(nil))
	return b
}

func (b *blobSpec) size() int64 { return int64(len(b.base)) }

// section returns the blob's bytes [off, off+n) as a reader.
func (b *blobSpec) section(off, n int64) io.Reader { return &sliceReader{b: b, off: off, end: off + n} }

// sliceReader reads a range of a blobSpec; WriteTo hands whole slices to the writer, so the
// HTTP client writes them to the socket without copying them through a small buffer.
type sliceReader struct {
	b        *blobSpec
	off, end int64
}

func (r *sliceReader) next(max int) []byte {
	if r.off >= r.end {
		return nil
	}
	var p []byte
	if r.off < headerSize {
		p = r.b.header[r.off:]
	} else {
		p = r.b.base[r.off:]
	}
	if rest := r.end - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	if max > 0 && len(p) > max {
		p = p[:max]
	}
	return p
}

func (r *sliceReader) Read(p []byte) (int, error) {
	s := r.next(len(p))
	if s == nil {
		return 0, io.EOF
	}
	n := copy(p, s)
	r.off += int64(n)
	return n, nil
}

func (r *sliceReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		s := r.next(0)
		if s == nil {
			return total, nil
		}
		n, err := w.Write(s)
		total += int64(n)
		r.off += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// bigBlob generates the big blob: block i (of bigBlock bytes) is the random block with its
// first 8 bytes replaced by i ^ seed.
type bigBlob struct {
	block []byte
	seed  uint64
	size  int64
}

func newBigBlob(seed uint64, size int64) *bigBlob {
	return &bigBlob{block: randomBytes(seed^0xb16, bigBlock), seed: seed, size: size}
}

// reader streams the big blob from its start.
func (g *bigBlob) reader() *bigReader {
	return &bigReader{g: g, buf: make([]byte, bigBlock)}
}

// digest streams the blob once through sha256.
func (g *bigBlob) digest() string {
	h := sha256.New()
	if _, err := g.reader().WriteTo(h); err != nil {
		panic(err) // writing to a hash cannot fail
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil))
}

type bigReader struct {
	g   *bigBlob
	off int64
	buf []byte
}

func (r *bigReader) Read(p []byte) (int, error) {
	if r.off >= r.g.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.g.size {
		in := r.off % bigBlock
		end := min(int64(bigBlock), in+r.g.size-r.off)
		k := copy(p[n:], r.g.block[in:end])
		if in < 8 {
			var stamp [8]byte
			binary.LittleEndian.PutUint64(stamp[:], uint64(r.off/bigBlock)^r.g.seed)
			copy(p[n:n+k], stamp[in:])
		}
		n += k
		r.off += int64(k)
	}
	return n, nil
}

// WriteTo writes the blob a block at a time from one reused buffer.
func (r *bigReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		n, err := r.Read(r.buf)
		if n > 0 {
			m, werr := w.Write(r.buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

package chart

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// LoadArchive reads a chart archive (.tgz) from r and returns the chart,
// refusing anything Helm would refuse and more. It never writes to disk;
// decompressed content is held in memory within lim.
//
// The archive must be a gzip-compressed tar whose entries all live in one
// top-level directory (the chart's), with a valid Chart.yaml there. Each
// refusal is an [*ArchiveError] wrapping [ErrInvalidArchive] that names
// the entry and says what to do. Refused, as Helm does: absolute paths,
// ".." components, drive letters, decompressed sizes beyond the limits,
// files outside the top-level directory, a missing or invalid Chart.yaml,
// an unparsable values.yaml or Chart.lock, invalid subcharts. Refused,
// stricter than Helm: backslashes, "." or empty path components, names
// longer than 4096 bytes, more than one top-level directory, duplicate
// entries, a file also used as a directory, symbolic and hard links (Helm
// reads them as empty files), device and FIFO entries, a truncated or
// corrupt gzip stream (Helm stops reading at the tar end marker and never
// checks the gzip checksum).
//
// The top chart's version must be strict SemVer ([Metadata.Validate]);
// subcharts get Helm's looser rule ("v0.1.0" is accepted there).
//
// As Helm does, a UTF-8 byte order mark is stripped from every file.
func LoadArchive(r io.Reader, lim Limits) (*Chart, error) {
	return loadArchive(r, newBudget(lim), 0)
}

// maxNesting bounds charts/*.tgz inside charts/*.tgz.
const maxNesting = 16

// maxEntryName bounds the name of a tar entry (PATH_MAX on Linux). The names of all entries
// are held while an archive is read; tar's long-name extensions allow a MiB each.
const maxEntryName = 4096

func loadArchive(r io.Reader, b *budget, depth int) (*Chart, error) {
	var w ArchiveWalker
	root, files, err := w.walk(r, b, entryHandler{keep: keepAll})
	if err != nil {
		return nil, err
	}
	return buildChart(root, files, b, depth, "")
}

func keepAll(string) bool { return true }

// entryHandler says what [ArchiveWalker.walk] does with the content of each regular file,
// named by its path relative to the chart directory. Whatever it does, the content is read to
// its end and its size counts towards the limits.
type entryHandler struct {
	// keep holds the content in File.Data.
	keep func(rel string) bool
	// consume, when set, is given the content of each file keep refused, as it streams out
	// of the archive; it may read any part of it and records what it learnt in f. The File
	// it gets has no Data (f.dropped).
	consume func(f *File, size int64, r io.Reader)
	// keptOnly leaves the files keep refused out of the result (unless consume is set).
	keptOnly bool
}

// ArchiveWalker reads chart archives entry by entry, streaming, with every check
// [LoadArchive] makes of the gzip and tar streams and of each entry: well-formed and
// complete streams, clean relative paths (no absolute, "..", ".", empty or drive-letter
// components, no backslashes or NUL bytes), names of at most 4096 bytes, one top-level
// directory, regular files and directories only, each path once, no path both a file and a
// directory, and the decompressed size and entry limits. It holds only the files asked for.
//
// A walker keeps its decompressor and buffers from one archive to the next, which saves
// their allocation when many archives are read; it is not safe for concurrent use. The zero
// value is ready to use.
type ArchiveWalker struct {
	in  *bufio.Reader // the compressed stream
	zr  gzip.Reader
	out *bufio.Reader // the decompressed stream: the tar reader reads it in small pieces
}

// Walk checks the archive in r as described for [ArchiveWalker] and returns its top-level
// directory (the chart's) and, in archive order, the regular files keep accepts, named by
// their '/'-separated path relative to that directory, with their content (a UTF-8 byte order
// mark removed, as Helm does). The content of every other file is read, and counts towards
// lim, but is not kept. Each refusal is an [*ArchiveError] wrapping [ErrInvalidArchive].
//
// Walk does not read Chart.yaml or any other file's content: that is the caller's part.
func (w *ArchiveWalker) Walk(r io.Reader, lim Limits, keep func(rel string) bool) (root string, files []*File, err error) {
	return w.walk(r, newBudget(lim), entryHandler{keep: keep, keptOnly: true})
}

// walk decompresses and checks every entry of the archive in r, streaming: it returns the
// top-level directory name and every regular file relative to it (those h keeps only, with
// h.keptOnly), with the content of those h keeps. Refusals of entries (paths, types,
// duplicates, links, limits) and of the gzip and tar streams are the same whatever h keeps.
func (w *ArchiveWalker) walk(r io.Reader, b *budget, h entryHandler) (string, []*File, error) {
	if w.in == nil {
		w.in, w.out = bufio.NewReader(r), bufio.NewReaderSize(nil, 64<<10)
	} else {
		w.in.Reset(r)
	}
	head, _ := w.in.Peek(512)
	if len(head) < 3 || head[0] != 0x1f || head[1] != 0x8b || head[2] != 8 {
		return "", nil, &ArchiveError{Problem: notGzipProblem(head)}
	}
	if err := w.zr.Reset(w.in); err != nil {
		return "", nil, &ArchiveError{Problem: "the gzip header is corrupt: package the chart again with `helm package` or `chartroom package`", Err: err}
	}
	defer w.zr.Close()
	w.out.Reset(&w.zr)
	dec := w.out

	tr := tar.NewReader(dec)
	var (
		root   string
		files  []*File
		nfiles int
		seen   = map[string]byte{} // rel path → 'f' file, 'd' directory
	)
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", nil, streamError(err, len(seen) == 0)
		}
		if hd.Typeflag == tar.TypeXGlobalHeader {
			continue // PAX global header: metadata only, as Helm skips it
		}
		b.entries++
		if b.entries > b.lim.MaxEntries {
			return "", nil, archiveErr("", "more than %d entries: raise the entry limit or remove files (use .helmignore)", b.lim.MaxEntries)
		}
		if len(hd.Name) > maxEntryName {
			return "", nil, archiveErr(hd.Name[:64]+"…", "has a name of %d bytes, more than the %d a path may have: shorten it", len(hd.Name), maxEntryName)
		}
		name := hd.Name
		isDir := hd.Typeflag == tar.TypeDir
		if isDir {
			name = strings.TrimSuffix(name, "/")
		}
		top, rel, perr := checkEntryPath(name)
		if perr != "" {
			return "", nil, archiveErr(hd.Name, "%s", perr)
		}
		switch hd.Typeflag {
		case tar.TypeReg, tar.TypeDir:
		case tar.TypeSymlink, tar.TypeLink:
			return "", nil, archiveErr(hd.Name, "is a link (to %q): chart archives must contain only regular files; package the chart with `helm package` or `chartroom package`, which store the linked content", hd.Linkname)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return "", nil, archiveErr(hd.Name, "is a device or FIFO: chart archives must contain only regular files")
		default:
			return "", nil, archiveErr(hd.Name, "has unsupported tar entry type %q: chart archives must contain only regular files and directories", string(hd.Typeflag))
		}

		if root == "" {
			root = top
		} else if top != root {
			return "", nil, archiveErr(hd.Name, "is outside the chart directory %q: an archive must hold exactly one top-level directory, the chart", root)
		}
		if rel == "" {
			if !isDir {
				return "", nil, archiveErr(hd.Name, "is a file at the top level: an archive must hold exactly one top-level directory, the chart")
			}
			continue
		}
		kind := byte('f')
		if isDir {
			kind = 'd'
		}
		if prev, dup := seen[rel]; dup {
			if prev == 'd' && kind == 'd' {
				continue // a repeated directory entry carries no content
			}
			return "", nil, archiveErr(hd.Name, "appears more than once: an archive must list each path once")
		}
		seen[rel] = kind
		if isDir {
			continue
		}
		nfiles++

		if hd.Size > b.lim.MaxFileSize {
			return "", nil, archiveErr(hd.Name, "decompresses to %d bytes, more than the per-file limit of %d: keep large files out of charts (.helmignore)", hd.Size, b.lim.MaxFileSize)
		}
		if hd.Size > b.remaining {
			return "", nil, archiveErr(hd.Name, "the chart decompresses to more than the total limit of %d bytes: keep large files out of charts (.helmignore)", b.lim.MaxTotalSize)
		}
		if h.keep(rel) {
			data := make([]byte, hd.Size)
			if _, err := io.ReadFull(tr, data); err != nil {
				return "", nil, streamError(err, false)
			}
			b.remaining -= hd.Size
			files = append(files, &File{Name: rel, Data: bytes.TrimPrefix(data, utf8BOM)})
			continue
		}
		// The size counts before consume reads: a nested archive's content counts towards
		// what is left after it.
		b.remaining -= hd.Size
		if !h.keptOnly || h.consume != nil {
			f := &File{Name: rel, dropped: true}
			files = append(files, f)
			if h.consume != nil {
				h.consume(f, hd.Size, tr)
			}
		}
		// Read what consume left: the tar reader stops at the entry's end and reports a
		// truncated entry or a corrupt stream here.
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return "", nil, streamError(err, false)
		}
	}

	// Read to the end of the gzip stream so its checksum and length are verified: a
	// truncated upload must not pass for a chart.
	n, err := io.Copy(io.Discard, io.LimitReader(dec, b.remaining+1))
	if err != nil {
		return "", nil, streamError(err, false)
	}
	if n > b.remaining {
		return "", nil, archiveErr("", "data after the end of the tar archive exceeds the total limit of %d bytes", b.lim.MaxTotalSize)
	}

	for rel := range seen {
		for p := parentDir(rel); p != ""; p = parentDir(p) {
			if seen[p] == 'f' {
				return "", nil, archiveErr(root+"/"+p, "is a file but %q is inside it: an archive cannot use one path as both file and directory", root+"/"+rel)
			}
		}
	}
	if nfiles == 0 {
		return "", nil, archiveErr("", "the archive holds no files: a chart needs at least Chart.yaml")
	}
	return root, files, nil
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// checkEntryPath splits a tar entry name into its first component and the rest, and returns
// a problem for anything but a clean relative path.
func checkEntryPath(name string) (top, rel, problem string) {
	switch {
	case name == "":
		return "", "", "has an empty name"
	case strings.ContainsRune(name, '\\'):
		return "", "", "contains a backslash: paths in chart archives use '/' (was the archive made on Windows by a non-Helm tool?)"
	case name[0] == '/':
		return "", "", "is an absolute path: entries must be relative to the archive root"
	case len(name) >= 2 && name[1] == ':' && ('a' <= name[0]|0x20 && name[0]|0x20 <= 'z'):
		return "", "", "starts with a drive letter: entries must be relative to the archive root"
	}
	for rest, more := name, true; more; {
		var p string
		p, rest, more = strings.Cut(rest, "/")
		switch p {
		case "..":
			return "", "", "refers to a parent directory (\"..\"): entries must stay inside the chart directory"
		case ".", "":
			return "", "", "is not a clean path (\".\" or empty component): package the chart with `helm package` or `chartroom package`"
		}
		if strings.IndexByte(p, 0) >= 0 {
			return "", "", "contains a NUL byte"
		}
	}
	top, rel, _ = strings.Cut(name, "/")
	return top, rel, ""
}

// streamError classifies a read error of the gzip/tar stream.
func streamError(err error, atStart bool) error {
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		if atStart {
			return &ArchiveError{Problem: "the gzip data is not a tar archive, or is truncated", Err: err}
		}
		return &ArchiveError{Problem: "the archive is truncated: upload or download it again", Err: err}
	case errors.Is(err, tar.ErrHeader):
		if atStart {
			return &ArchiveError{Problem: "the gzip data is not a tar archive: a chart is a .tgz made by `helm package`", Err: err}
		}
		return &ArchiveError{Problem: "a tar header is corrupt", Err: err}
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &ce):
		return &ArchiveError{Problem: "the gzip data is corrupt: upload or download it again", Err: err}
	}
	return &ArchiveError{Problem: "cannot read the archive", Err: err}
}

// notGzipProblem explains what the bytes look like instead of gzip.
func notGzipProblem(head []byte) string {
	const want = "a chart archive must be a gzip-compressed tar (.tgz) made by `helm package` or `chartroom package`"
	switch {
	case len(head) == 0:
		return "the archive is empty: " + want
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "this is an uncompressed tar: " + want
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "this is a zip file: " + want
	case bytes.Contains(head, []byte("apiVersion:")) || bytes.Contains(head, []byte("name:")):
		return "this looks like a YAML file: " + want
	}
	return fmt.Sprintf("not gzip data (starts with %q): %s", head[:min(len(head), 8)], want)
}

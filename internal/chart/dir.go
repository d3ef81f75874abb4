package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// LoadDir loads and validates the chart in directory dir as `helm package`
// and `helm lint` see it: .helmignore at the chart root applied with
// Helm's semantics plus its built-in rule ([IgnoreRules]), symbolic links
// followed (their content is included, as Helm does), subcharts in charts/
// as directories or .tgz archives.
//
// Stricter than Helm: the total size limit applies to directories too (so
// that the package stays loadable by Helm), and a symbolic link cycle is
// an error instead of endless recursion. Irregular files (devices,
// sockets, FIFOs) are refused, as Helm does.
func LoadDir(ctx context.Context, dir string, lim Limits) (*Chart, error) {
	top, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	fi, err := os.Stat(top)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("load chart %s: not a directory (to read an archive use LoadArchive)", dir)
	}
	rules, err := readIgnoreFile(filepath.Join(top, IgnoreFileName))
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	rules.AddDefaults()

	w := &dirWalker{ctx: ctx, top: top, rules: rules, b: newBudget(lim), active: map[string]bool{}}
	if err := w.walkDir(top, ""); err != nil {
		return nil, err
	}
	return buildChart(filepath.Base(top), w.files, w.b, 0, "")
}

func readIgnoreFile(name string) (*IgnoreRules, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &IgnoreRules{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseIgnore(f)
}

type dirWalker struct {
	ctx    context.Context
	top    string
	rules  *IgnoreRules
	b      *budget
	files  []*File
	active map[string]bool // real paths of directories being walked (cycle guard)
}

// walkDir visits the directory at abs (its chart-relative path is rel)
// in sorted name order, like Helm's sympath.Walk.
func (w *dirWalker) walkDir(abs, rel string) error {
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("load chart: %w", err)
	}
	if w.active[real] {
		return &ArchiveError{Entry: rel, Problem: fmt.Sprintf("symbolic link cycle: %s is inside itself; remove the link", real)}
	}
	w.active[real] = true
	defer delete(w.active, real)

	d, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("load chart: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("load chart: read %s: %w", abs, err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		childAbs := filepath.Join(abs, name)
		childRel := name
		if rel != "" {
			childRel = rel + "/" + name
		}
		fi, err := os.Stat(childAbs) // follows symbolic links, as Helm does
		if err != nil {
			return fmt.Errorf("load chart: %w", err)
		}
		if fi.IsDir() {
			if w.rules.Ignore(childRel, true) {
				continue
			}
			if err := w.walkDir(childAbs, childRel); err != nil {
				return err
			}
			continue
		}
		if w.rules.Ignore(childRel, false) {
			continue
		}
		if err := w.addFile(childAbs, childRel, fi); err != nil {
			return err
		}
	}
	return nil
}

func (w *dirWalker) addFile(abs, rel string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &ArchiveError{Entry: rel, Problem: fmt.Sprintf("is not a regular file (mode %s): remove it or list it in %s", fi.Mode().Type(), IgnoreFileName)}
	}
	w.b.entries++
	if w.b.entries > w.b.lim.MaxEntries {
		return &ArchiveError{Entry: rel, Problem: fmt.Sprintf("the chart has more than %d files: list unneeded ones in %s", w.b.lim.MaxEntries, IgnoreFileName)}
	}
	if fi.Size() > w.b.lim.MaxFileSize {
		return &ArchiveError{Entry: rel, Problem: fmt.Sprintf("is %d bytes, more than the per-file limit of %d: list it in %s", fi.Size(), w.b.lim.MaxFileSize, IgnoreFileName)}
	}
	if fi.Size() > w.b.remaining {
		return &ArchiveError{Entry: rel, Problem: fmt.Sprintf("the chart exceeds the total limit of %d bytes: list large files in %s", w.b.lim.MaxTotalSize, IgnoreFileName)}
	}
	f, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("load chart: %w", err)
	}
	defer f.Close()
	// Read at most one byte past the limit: the file may grow meanwhile.
	data, err := io.ReadAll(io.LimitReader(f, min(w.b.lim.MaxFileSize, w.b.remaining)+1))
	if err != nil {
		return fmt.Errorf("load chart: read %s: %w", rel, err)
	}
	if int64(len(data)) > min(w.b.lim.MaxFileSize, w.b.remaining) {
		return &ArchiveError{Entry: rel, Problem: "grew beyond the size limits while being read"}
	}
	w.b.remaining -= int64(len(data))
	w.files = append(w.files, &File{Name: rel, Data: bytes.TrimPrefix(data, utf8BOM)})
	return nil
}

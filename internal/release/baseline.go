package release

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
)

// LoadArchiveFile loads a baseline from a chart archive (.tgz) on disk.
func LoadArchiveFile(ctx context.Context, name string, lim chart.Limits) (*chart.Chart, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("load baseline: %w", err)
	}
	defer f.Close()
	ch, err := chart.LoadArchive(f, lim)
	if err != nil {
		return nil, fmt.Errorf("load baseline %s: %w", name, err)
	}
	return ch, nil
}

// ErrNotGitRevision is wrapped when a baseline names no revision of the
// git repository holding the chart (or the chart is not in one).
var ErrNotGitRevision = errors.New("not a git revision")

// LoadGitRevision loads the chart in directory dir as it was at git
// revision rev (a commit, tag, branch, "HEAD~1", "origin/main", …),
// reading the tree with `git ls-tree` and `git cat-file` (so .gitattributes
// export rules do not apply) and honouring the chart's .helmignore at
// that revision. Uncommitted changes play no part.
func LoadGitRevision(ctx context.Context, dir, rev string, lim chart.Limits) (*chart.Chart, error) {
	top, err := git(ctx, dir, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w: %s is not in a git work tree (%v)", rev, ErrNotGitRevision, dir, err)
	}
	top = strings.TrimSpace(top)
	prefix, err := git(ctx, dir, nil, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	prefix = strings.TrimSpace(prefix)
	commit, err := git(ctx, top, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("baseline %q: %w: no such commit, tag or branch in %s", rev, ErrNotGitRevision, top)
	}
	commit = strings.TrimSpace(commit)

	args := []string{"ls-tree", "-r", "-z", "--full-tree", commit}
	if prefix != "" {
		args = append(args, "--", prefix)
	}
	listing, err := git(ctx, top, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: list %s: %w", rev, prefix, err)
	}
	type entry struct{ mode, sha, path string }
	var entries []entry
	for _, rec := range strings.Split(listing, "\x00") {
		meta, p, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta) // mode type sha
		if len(f) != 3 || f[1] != "blob" {
			continue // submodules
		}
		entries = append(entries, entry{mode: f[0], sha: f[2], path: strings.TrimPrefix(p, prefix)})
	}
	if len(entries) == 0 {
		return nil, &noBaselineError{fmt.Sprintf("baseline %s: the chart directory %s did not exist at %s", rev, dirName(prefix), commit[:min(12, len(commit))])}
	}
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = e.path
	}
	if err := checkTreePaths(paths); err != nil {
		return nil, fmt.Errorf("baseline %s: the tree of %s %w; git never writes such a tree (git fsck reports it): refusing to read it", rev, commit[:min(12, len(commit))], err)
	}

	var in bytes.Buffer
	for _, e := range entries {
		in.WriteString(e.sha + "\n")
	}
	tmp, err := os.MkdirTemp("", "chartroom-baseline-")
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	defer os.RemoveAll(tmp)
	// Every write goes through tmpRoot, which refuses to follow a path outside tmp (a
	// symbolic link of the tree pointing elsewhere), whatever the tree holds.
	tmpRoot, err := os.OpenRoot(tmp)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	defer tmpRoot.Close()
	name := chartDirName(dir)
	root := filepath.Join(tmp, name)

	cmd := exec.CommandContext(ctx, "git", "-C", top, "cat-file", "--batch")
	cmd.Stdin = &in
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("baseline %s: run git: %w", rev, err)
	}
	br := bufio.NewReader(out)
	var werr error
	for _, e := range entries {
		data, err := readBatchObject(br)
		if err != nil {
			werr = err
			break
		}
		if werr = writeEntry(tmpRoot, name, e.path, e.mode, data); werr != nil {
			break
		}
	}
	_, _ = io.Copy(io.Discard, br)
	if err := cmd.Wait(); err != nil && werr == nil {
		werr = fmt.Errorf("git cat-file: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if werr != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, werr)
	}
	ch, err := chart.LoadDir(ctx, root, lim)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", rev, err)
	}
	return ch, nil
}

func dirName(prefix string) string {
	if prefix == "" {
		return "(the repository root)"
	}
	return strings.TrimSuffix(prefix, "/")
}

// chartDirName keeps the chart directory's base name, which Helm's loader
// does not use but error messages show.
func chartDirName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil || filepath.Base(abs) == string(filepath.Separator) {
		return "chart"
	}
	return filepath.Base(abs)
}

// readBatchObject reads one "<sha> <type> <size>\n<data>\n" record.
func readBatchObject(br *bufio.Reader) ([]byte, error) {
	head, err := br.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	f := strings.Fields(head)
	if len(f) != 3 {
		return nil, fmt.Errorf("git cat-file: unexpected answer %q", strings.TrimSpace(head))
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 || size > chart.DefaultMaxTotalSize {
		return nil, fmt.Errorf("git cat-file: object %s has unexpected size %q", f[0], f[2])
	}
	data := make([]byte, size+1)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	return data[:size], nil
}

// checkTreePaths refuses a tree listing (chart-relative, slash-separated paths) that names
// a path twice, or a path below another entry (a file or a symbolic link, which git
// records as blobs): git writes neither, but a crafted tree holds them, and a symbolic link
// "a" with an entry "a/x" below it would make writing the tree out write through the link.
// The error reads after "the tree of COMMIT".
func checkTreePaths(paths []string) error {
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if seen[p] {
			return fmt.Errorf("lists %q twice", p)
		}
		seen[p] = true
	}
	for _, p := range paths {
		for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if seen[dir] {
				return fmt.Errorf("lists %q below %q, which is a file or a symbolic link", p, dir)
			}
		}
	}
	return nil
}

// writeEntry writes one file of the tree under name in root; symbolic links are recreated
// as links (LoadDir follows them as Helm does). root refuses any path that would leave it.
func writeEntry(root *os.Root, name, rel, mode string, data []byte) error {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains("/"+rel+"/", "/../") {
		return fmt.Errorf("refusing tree entry %q", rel)
	}
	p := filepath.Join(name, filepath.FromSlash(rel))
	if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write tree entry %q: %w", rel, err)
	}
	var err error
	switch mode {
	case "120000":
		err = root.Symlink(string(data), p)
	case "100755":
		err = root.WriteFile(p, data, 0o755)
	default:
		err = root.WriteFile(p, data, 0o644)
	}
	if err != nil {
		return fmt.Errorf("write tree entry %q: %w", rel, err)
	}
	return nil
}

// git runs git in dir and returns its standard output.
func git(ctx context.Context, dir string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return stdout.String(), nil
}

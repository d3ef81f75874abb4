// Package archtest checks the import table of docs/ARCHITECTURE.md against the code.
package archtest

import (
	"bufio"
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/chartroom/chartroom/"

// rule is one row of the import table.
type rule struct {
	pkg                 string
	mayImport, testsToo []string
	never               []string
}

// importTable reads the table between the import-table markers of docs/ARCHITECTURE.md.
func importTable(t *testing.T, root string) []rule {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []rule
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, "import-table: begin"):
			in = true
			continue
		case strings.Contains(line, "import-table: end"):
			in = false
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("import table row %q: want 4 cells", line)
		}
		list := func(cell string) []string {
			var out []string
			for _, p := range strings.Split(cell, ",") {
				if p = strings.Trim(strings.TrimSpace(p), "`"); p != "" {
					out = append(out, p)
				}
			}
			return out
		}
		rules = append(rules, rule{pkg: list(cells[0])[0], mayImport: list(cells[1]), testsToo: list(cells[2]), never: list(cells[3])})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) == 0 {
		t.Fatal("docs/ARCHITECTURE.md has no import table between the import-table markers")
	}
	return rules
}

// allowed reports whether path (relative to the module) is in list (a "/..." entry covers a
// folder and what is below it).
func allowed(path string, list []string) bool {
	for _, a := range list {
		if a == path {
			return true
		}
		if base, ok := strings.CutSuffix(a, "/..."); ok && (path == base || strings.HasPrefix(path, base+"/")) {
			return true
		}
	}
	return false
}

// TestImportTable: every package of the table imports (tests included) only what its row
// allows, and never what its row forbids.
func TestImportTable(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range importTable(t, root) {
		t.Run(r.pkg, func(t *testing.T) {
			p, err := build.Default.ImportDir(filepath.Join(root, filepath.FromSlash(r.pkg)), 0)
			if err != nil {
				t.Fatalf("package %s: %v", r.pkg, err)
			}
			check := func(imports []string, may []string, what string) {
				for _, imp := range imports {
					if slices.Contains(r.never, imp) {
						t.Errorf("%s imports %s, which the import table forbids it", what, imp)
					}
					own, ok := strings.CutPrefix(imp, module)
					if !ok || own == r.pkg {
						continue
					}
					if !allowed(own, may) {
						t.Errorf("%s imports %s; the import table allows %v", what, own, may)
					}
				}
			}
			check(p.Imports, r.mayImport, r.pkg)
			tests := append(slices.Clone(r.mayImport), r.testsToo...)
			check(p.TestImports, tests, r.pkg+"'s tests")
			check(p.XTestImports, tests, r.pkg+"'s tests")
		})
	}
}

package registrytest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
)

// Sentinel is one of the registry's domain errors.
type Sentinel struct {
	Name string // e.g. ErrChartInvalid
	Err  error
}

// sentinels are the registry's domain errors by name. Sentinels checks them against the
// registry's source.
var sentinels = map[string]error{
	"ErrNameInvalid":         registry.ErrNameInvalid,
	"ErrNameUnknown":         registry.ErrNameUnknown,
	"ErrBlobUnknown":         registry.ErrBlobUnknown,
	"ErrUploadUnknown":       registry.ErrUploadUnknown,
	"ErrRangeInvalid":        registry.ErrRangeInvalid,
	"ErrDigestInvalid":       registry.ErrDigestInvalid,
	"ErrSizeInvalid":         registry.ErrSizeInvalid,
	"ErrManifestInvalid":     registry.ErrManifestInvalid,
	"ErrManifestUnknown":     registry.ErrManifestUnknown,
	"ErrManifestBlobUnknown": registry.ErrManifestBlobUnknown,
	"ErrTagInvalid":          registry.ErrTagInvalid,
	"ErrTooLarge":            registry.ErrTooLarge,
	"ErrImmutable":           registry.ErrImmutable,
	"ErrBumpTooSmall":        registry.ErrBumpTooSmall,
	"ErrVersionExists":       registry.ErrVersionExists,
	"ErrTooManyUploads":      registry.ErrTooManyUploads,
	"ErrChartInvalid":        registry.ErrChartInvalid,
	"ErrChartUnknown":        registry.ErrChartUnknown,
	"ErrMetadataUnknown":     registry.ErrMetadataUnknown,
	"ErrProxyNamespace":      registry.ErrProxyNamespace,
	"ErrUpstream":            registry.ErrUpstream,
}

// Sentinels returns every exported error variable (Err…) the registry package declares, read
// from its source: a sentinel added to the registry and not to this package's list fails the
// test that asks, so that no protocol test of its mapping can miss it.
func Sentinels(t testing.TB) []Sentinel {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("registrytest: cannot find its own source")
	}
	dir := filepath.Dir(filepath.Dir(self)) // internal/registry
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, filepath.Join(dir, f.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(name.Name, "Err") && name.IsExported() {
						declared[name.Name] = true
					}
				}
			}
		}
	}
	var out []Sentinel
	for name := range declared {
		err, ok := sentinels[name]
		if !ok {
			t.Errorf("registry declares %s, which registrytest does not know: add it to registrytest's sentinels, and map it to a status in both protocols (server/oci/errors.go, server/repo/errors.go)", name)
			continue
		}
		out = append(out, Sentinel{Name: name, Err: err})
	}
	for name := range sentinels {
		if !declared[name] {
			t.Errorf("registrytest lists %s, which the registry no longer declares", name)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

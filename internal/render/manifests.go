//go:build !chartroom_norender

package render

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	yaml2 "go.yaml.in/yaml/v2"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// hookEvents are the hook names Helm knows (releaseutil's table); an
// object annotated with any other is skipped, as Helm skips it.
var hookEvents = map[string]bool{
	release.HookPreInstall.String(): true, release.HookPostInstall.String(): true,
	release.HookPreDelete.String(): true, release.HookPostDelete.String(): true,
	release.HookPreUpgrade.String(): true, release.HookPostUpgrade.String(): true,
	release.HookPreRollback.String(): true, release.HookPostRollback.String(): true,
	release.HookTest.String(): true, "test-success": true,
}

// resources splits rendered files into objects as `helm template` does
// (releaseutil.SortManifests: NOTES.txt removed, partials and empty files
// skipped, each file split with releaseutil.SplitManifests, every document
// parsed with Helm's YAML parser, unknown hooks skipped) and reads each
// object's identity. Objects are in template path order, then document
// order.
//
// SortManifests itself is not called: it parses each document into JSON
// and back, which costs more than rendering; here each document is parsed
// once by the same parser (go.yaml.in/yaml/v2, which sigs.k8s.io/yaml wraps),
// so the same documents are accepted and refused.
func resources(hc *helmchart.Chart, out map[string]string, ns string) ([]Resource, error) {
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	prefix := hc.Name() + "/"
	var res []Resource
	for _, name := range names {
		content := out[name]
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range sortedDocs(content) {
			r, ok, err := identity(doc)
			if err != nil {
				return nil, fmt.Errorf("render: YAML parse error on %s: %w", name, err)
			}
			if !ok {
				continue
			}
			r.Template = strings.TrimPrefix(name, prefix)
			r.Doc = doc
			if r.Namespace == "" {
				r.Namespace = ns
			}
			res = append(res, r)
		}
	}
	return res, nil
}

// identity reads apiVersion, kind, metadata.name and metadata.namespace
// of one document, and whether it is a hook. ok is false for a document
// Helm skips: comments only, or a hook of an unknown kind.
func identity(doc string) (r Resource, ok bool, err error) {
	var v any
	if err := yaml2.Unmarshal([]byte(doc), &v); err != nil {
		return r, false, err
	}
	if v == nil {
		return r, false, nil
	}
	top, isMap := v.(map[any]any)
	if !isMap {
		return r, false, fmt.Errorf("the document is a %T, not a mapping", v)
	}
	var meta map[any]any
	switch m := top["metadata"].(type) {
	case nil:
	case map[any]any:
		meta = m
	default:
		return r, false, fmt.Errorf("metadata is a %T, not a mapping", m)
	}
	field := func(m map[any]any, key string) (string, error) {
		if s, isStr := scalarString(m[key]); isStr {
			return s, nil
		}
		return "", fmt.Errorf("%s is a %T, not a string", key, m[key])
	}
	for _, f := range []struct {
		m   map[any]any
		key string
		dst *string
	}{{top, "apiVersion", &r.APIVersion}, {top, "kind", &r.Kind}, {meta, "name", &r.Name}, {meta, "namespace", &r.Namespace}} {
		if *f.dst, err = field(f.m, f.key); err != nil {
			return r, false, err
		}
	}
	if ann, isAnn := meta["annotations"].(map[any]any); isAnn {
		// Helm reads annotations as a map of strings and fails on anything else.
		for k, val := range ann {
			if _, isStr := scalarString(k); !isStr || k == nil {
				return r, false, fmt.Errorf("annotation key %v is not a string", k)
			}
			if _, isStr := scalarString(val); !isStr {
				return r, false, fmt.Errorf("annotation %v is a %T, not a string", k, val)
			}
		}
		hooks, _ := field(ann, release.HookAnnotation)
		if _, has := ann[release.HookAnnotation]; has {
			r.Hook = true
			for _, h := range strings.Split(hooks, ",") {
				if !hookEvents[strings.ToLower(strings.TrimSpace(h))] {
					return r, false, nil // Helm skips unknown hooks
				}
			}
		}
	}
	if r.Kind == "" && r.APIVersion == "" && r.Name == "" {
		return r, false, nil
	}
	return r, true, nil
}

// scalarString converts a YAML scalar read into a string field as
// sigs.k8s.io/yaml does (numbers and booleans become their text); ok is
// false for maps and lists.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 32), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// sortedDocs splits a YAML stream as Helm does, in document order.
func sortedDocs(s string) []string {
	m := releaseutil.SplitManifests(s)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	docs := make([]string, len(keys))
	for i, k := range keys {
		docs[i] = m[k]
	}
	return docs
}

//go:build !chartroom_norender

package render

import (
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
)

// TestIdentityMatchesSortManifests checks that identity accepts, skips and
// refuses documents exactly as Helm's releaseutil.SortManifests does.
func TestIdentityMatchesSortManifests(t *testing.T) {
	docs := map[string]string{
		"plain":              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n",
		"hook":               "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install, post-upgrade\n",
		"unknown hook":       "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-nothing\n",
		"empty hook":         "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: \"\"\n",
		"legacy test hook":   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    helm.sh/hook: test-success\n",
		"bool annotation":    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    enabled: true\n",
		"number name":        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: 12\n",
		"scalar document":    "just a string",
		"comments only":      "# nothing here",
		"bad yaml":           "apiVersion: v1\nkind: [unclosed\n",
		"duplicate key":      "apiVersion: v1\nkind: Pod\nkind: Pod\nmetadata:\n  name: p\n",
		"yaml 1.1 yes name":  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: yes\n",
		"flow style":         "{apiVersion: v1, kind: Pod, metadata: {name: p}}",
		"metadata is a list": "apiVersion: v1\nkind: Pod\nmetadata: [a]\n",
		"name is a map":      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {a: b}\n",
		"annotation list":    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    a: [1]\n",
		"float namespace":    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: 1.50\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			hooks, manifests, herr := releaseutil.SortManifests(map[string]string{"c/templates/x.yaml": doc}, nil, releaseutil.InstallOrder)
			r, ok, err := identity(doc)
			if (herr != nil) != (err != nil) {
				t.Fatalf("helm error %v, ours %v", herr, err)
			}
			if err != nil {
				return
			}
			helmKept := len(hooks) + len(manifests)
			if len(manifests) == 1 && manifests[0].Head.Kind == "" && manifests[0].Head.Version == "" && (manifests[0].Head.Metadata == nil || manifests[0].Head.Metadata.Name == "") {
				helmKept = 0 // helm keeps a comment-only document, which renders nothing
			}
			if helmKept != map[bool]int{true: 1, false: 0}[ok] {
				t.Fatalf("helm kept %d objects, ours ok=%v", helmKept, ok)
			}
			if ok && r.Hook != (len(hooks) == 1) {
				t.Errorf("hook: ours %v, helm %d hooks", r.Hook, len(hooks))
			}
		})
	}
}

func TestIdentityConvertsScalars(t *testing.T) {
	r, ok, err := identity("apiVersion: v1\nkind: Pod\nmetadata:\n  name: yes\n  namespace: 12\n")
	if err != nil || !ok || r.Name != "true" || r.Namespace != "12" {
		t.Errorf("got %+v %v %v; want name true and namespace 12 as sigs.k8s.io/yaml reads them", r, ok, err)
	}
}

//go:build !chartroom_norender

package render

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	yaml2 "go.yaml.in/yaml/v2"
	"helm.sh/helm/v3/pkg/release"

	"github.com/chartroom/chartroom/internal/chart"
)

// Images renders ch as [Render] does (default values unless opts says otherwise, enabled
// subcharts included) and returns the container images its objects deploy, each once, in
// template path order, then document order. Hooks count, but for `helm test` hooks, which an
// install does not run; objects of crds/ are not templates and hold no Pods.
func Images(ctx context.Context, ch *chart.Chart, opts Options) ([]ContainerImage, error) {
	_, out, _, err := renderFiles(ctx, ch, &opts)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	imgs := []ContainerImage{}
	for _, name := range names {
		content := out[name]
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasPrefix(path.Base(name), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range sortedDocs(content) {
			// The documents helm template refuses or skips, identity refuses or skips.
			_, ok, err := identity(doc)
			if err != nil {
				return nil, fmt.Errorf("render: YAML parse error on %s: %w", name, err)
			}
			var v any
			if !ok || yaml2.Unmarshal([]byte(doc), &v) != nil || isTestHook(v) {
				continue
			}
			imgs = collectImages(v, 0, seen, imgs)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return imgs, nil
}

// isTestHook reports whether a parsed object is a `helm test` hook (helm.sh/hook: test).
func isTestHook(v any) bool {
	top, _ := v.(map[any]any)
	md, _ := top["metadata"].(map[any]any)
	ann, _ := md["annotations"].(map[any]any)
	hooks, _ := ann[release.HookAnnotation].(string)
	for _, h := range strings.Split(hooks, ",") {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case release.HookTest.String(), "test-success":
			return true
		}
	}
	return false
}

// Available is true: this build renders with Helm's engine.
const Available = true

package render

import (
	"fmt"
	"sort"
)

// ContainerImage is a container image a rendered chart deploys.
type ContainerImage struct {
	// Image is the image reference as the rendered object writes it ("nginx:1.27",
	// "ghcr.io/org/app@sha256:…"), not normalized.
	Image string `json:"image"`
	// Name is the name of the first container found running it.
	Name string `json:"name,omitempty"`
}

// containerLists are the fields of a Pod spec (and of any object, for custom resources that
// embed one) that list containers.
var containerLists = map[string]bool{"containers": true, "initContainers": true, "ephemeralContainers": true}

// maxWalkDepth bounds how deep collectImages looks into one object.
const maxWalkDepth = 64

// collectImages adds to imgs (and seen) the image of every container in v, a document parsed
// by go.yaml.in/yaml/v2: every containers, initContainers and ephemeralContainers list of
// mappings with an image string, wherever it is (so Pods, the Pod templates of Deployments,
// StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs, and custom resources that embed
// one). Keys are visited in sorted order, so the order found is stable.
func collectImages(v any, depth int, seen map[string]bool, imgs []ContainerImage) []ContainerImage {
	if depth > maxWalkDepth {
		return imgs
	}
	switch x := v.(type) {
	case map[any]any:
		keys := make([]string, 0, len(x))
		byKey := make(map[string]any, len(x))
		for k, val := range x {
			ks := fmt.Sprint(k)
			keys = append(keys, ks)
			byKey[ks] = val
		}
		sort.Strings(keys)
		for _, k := range keys {
			val := byKey[k]
			if list, ok := val.([]any); ok && containerLists[k] {
				for _, item := range list {
					c, ok := item.(map[any]any)
					if !ok {
						continue
					}
					img, _ := c["image"].(string)
					if img == "" || seen[img] {
						continue
					}
					seen[img] = true
					name, _ := c["name"].(string)
					imgs = append(imgs, ContainerImage{Image: img, Name: name})
				}
			}
			imgs = collectImages(val, depth+1, seen, imgs)
		}
	case []any:
		for _, item := range x {
			imgs = collectImages(item, depth+1, seen, imgs)
		}
	}
	return imgs
}

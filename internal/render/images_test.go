//go:build !chartroom_norender

package render_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/chartroom/chartroom/internal/render"
)

// TestImages: the images of every kind of workload a chart renders with default values —
// a Pod's containers and ephemeral containers, a DaemonSet's, a ReplicaSet's, a hook Job's —
// each once, in document order; not those of `helm test` hooks, of objects Helm skips (an
// unknown hook), of containers without an image, or of fields that only look alike.
func TestImages(t *testing.T) {
	got, err := render.Images(context.Background(), load(t, "testdata/workloads"), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []render.ContainerImage{
		{Image: "acme/pod:1.0", Name: "main"},
		{Image: "acme/debug:1", Name: "debug"},
		{Image: "acme/agent:1", Name: "agent"},
		{Image: "acme/rs:1", Name: "rs"},
		{Image: "acme/migrate:1", Name: "migrate"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("images:\n got %+v\nwant %+v", got, want)
	}
}

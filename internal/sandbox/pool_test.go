package sandbox_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/sandbox"
)

// app is a chart that renders to one image.
func app(t *testing.T) []byte {
	return charttest.Files(t, "app", map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: app\nversion: 1.0.0\n",
		"values.yaml":        "image: nginx:1.27\n",
		"templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: app\n      image: {{ .Values.image }}\n",
	})
}

// renderApp renders app in r and checks its one image.
func renderApp(t *testing.T, r *sandbox.Renderer) {
	t.Helper()
	imgs, err := r.Images(context.Background(), app(t), chart.Limits{})
	if err != nil || len(imgs) != 1 || imgs[0].Image != "nginx:1.27" {
		t.Fatalf("images %+v, %v", imgs, err)
	}
}

// idlePIDs is r's idle children.
func idlePIDs(r *sandbox.Renderer) []int {
	idle, _ := r.PIDs()
	return idle
}

// TestChildServesManyJobs: renders in a row are served by the same child process, which
// stays idle between them, until it served MaxJobs; it is then gone, and the next render
// starts another.
func TestChildServesManyJobs(t *testing.T) {
	r, pidFile := renderer(t, 0)
	r.MaxJobs = 3
	var took []time.Duration
	var first int
	for i := range 3 {
		start := time.Now()
		renderApp(t, r)
		took = append(took, time.Since(start))
		if i == 0 {
			first = childPID(t, pidFile)
		}
		if got := childPID(t, pidFile); got != first {
			t.Fatalf("render %d: in child %d, not in child %d of the first render", i+1, got, first)
		}
		want := []int{first}
		if i == 2 {
			want = nil // retired after its third render
		}
		if got := idlePIDs(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("after render %d: idle children %v, want %v", i+1, got, want)
		}
	}
	t.Logf("renders took %v (the first starts the child)", took)
	pidGone(t, first)

	renderApp(t, r)
	second := childPID(t, pidFile)
	if second == first {
		t.Fatalf("the render after the retirement ran in the retired child %d", first)
	}
	if got := idlePIDs(r); !reflect.DeepEqual(got, []int{second}) {
		t.Errorf("idle children %v, want [%d]", got, second)
	}
}

// TestRenderAfterAKilledOne: after a render whose child was killed (at its deadline) or died
// (at its memory limit), the next render works, in a new child.
func TestRenderAfterAKilledOne(t *testing.T) {
	for name, tc := range map[string]struct {
		tmpl    string
		timeout time.Duration
		want    any
	}{
		"deadline": {`{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}{{ end }}{{ end }}`, time.Second, new(*sandbox.TimeoutError)},
		"memory":   {`{{ repeat 2000000000 "x" }}`, time.Hour, new(*sandbox.MemoryError)},
	} {
		t.Run(name, func(t *testing.T) {
			r, pidFile := renderer(t, 256<<20)
			renderApp(t, r)
			killed := childPID(t, pidFile)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			if _, err := r.Images(ctx, hostile(t, tc.tmpl), chart.Limits{}); !errors.As(err, tc.want) {
				t.Fatalf("error %v (%T), want a %T", err, err, tc.want)
			}
			if got := childPID(t, pidFile); got != killed {
				t.Fatalf("the hostile render ran in child %d, not in the idle child %d", got, killed)
			}
			pidGone(t, killed)
			if _, all := r.PIDs(); len(all) != 0 {
				t.Errorf("children %v kept after the killed render", all)
			}
			renderApp(t, r)
			if next := childPID(t, pidFile); next == killed {
				t.Errorf("the next render ran in the killed child %d", killed)
			}
		})
	}
}

// TestChildAnsweringGarbage: a child that answers something else than a result is killed
// and discarded, with an error that says so.
func TestChildAnsweringGarbage(t *testing.T) {
	for name, want := range map[string]string{
		"huge frame": "the render child answered more than 64 MiB",
		"not json":   "the render child answered no result (invalid character",
	} {
		t.Run(name, func(t *testing.T) {
			r, pidFile := renderer(t, 0)
			r.Env = append(r.Env, envGarbage+"="+name)
			_, err := r.Images(context.Background(), app(t), chart.Limits{})
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("error %v, want one starting %q", err, want)
			}
			childGone(t, pidFile)
			if _, all := r.PIDs(); len(all) != 0 {
				t.Errorf("children %v kept", all)
			}
		})
	}
}

// TestChildRetiredWhenIdle: a child idle for IdleTimeout is gone.
func TestChildRetiredWhenIdle(t *testing.T) {
	r, pidFile := renderer(t, 0)
	r.IdleTimeout = 100 * time.Millisecond
	renderApp(t, r)
	for end := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, all := r.PIDs(); len(all) == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the child is still there a minute after its idle timeout")
		}
	}
	childGone(t, pidFile)
}

// TestClose: Close kills the idle children and those rendering (whose render fails, neither
// as a timeout nor as the memory limit), and leaves no child; renders after it fail.
func TestClose(t *testing.T) {
	r, pidFile := renderer(t, 0)
	renderApp(t, r)
	idle := childPID(t, pidFile)

	errc := make(chan error, 1)
	go func() {
		_, err := r.Images(context.Background(), hostile(t, `{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}{{ end }}{{ end }}`), chart.Limits{})
		errc <- err
	}()
	// The endless render takes the idle child.
	for end := time.Now().Add(time.Minute); len(idlePIDs(r)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the render did not start within a minute")
		}
	}
	r.Close()
	if _, all := r.PIDs(); len(all) != 0 {
		t.Errorf("children %v after Close", all)
	}
	pidGone(t, idle)
	err := <-errc
	var te *sandbox.TimeoutError
	var me *sandbox.MemoryError
	if err == nil || errors.As(err, &te) || errors.As(err, &me) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("the render Close stopped: %v; want an error saying the renderer was closed", err)
	}
	if _, err := r.Images(context.Background(), app(t), chart.Limits{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("a render after Close: %v; want an error saying the renderer is closed", err)
	}
}

package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/sandbox"
)

// The test binary is its own render child: started with envChild set, it runs
// sandbox.Child (after writing its pid to the file envPidFile names) instead of the tests.
// With envGarbage set to a key of garbage, the child writes that answer and waits for an
// hour instead.
const (
	envChild   = "CHARTROOM_SANDBOX_TEST_CHILD"
	envPidFile = "CHARTROOM_SANDBOX_TEST_PIDFILE"
	envGarbage = "CHARTROOM_SANDBOX_TEST_GARBAGE"
)

var garbage = map[string][]byte{
	"huge frame": {0xff, 0xff, 0xff, 0xff, 'x'},
	"not json":   {0, 0, 0, 4, 'n', 'o', 'p', 'e'},
}

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		if f := os.Getenv(envPidFile); f != "" {
			if err := os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
				os.Exit(10)
			}
		}
		if answer, ok := garbage[os.Getenv(envGarbage)]; ok {
			os.Stdout.Write(answer)
			time.Sleep(time.Hour)
		}
		if err := sandbox.Child(os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// renderer is a sandbox.Renderer running this test binary as its child, with memory (0: the
// default), and the file where the child writes its pid.
func renderer(t *testing.T, memory int64) (*sandbox.Renderer, string) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := &sandbox.Renderer{
		Command: []string{os.Args[0]},
		Env:     []string{envChild + "=1", envPidFile + "=" + pidFile},
		Memory:  memory,
	}
	t.Cleanup(r.Close)
	return r, pidFile
}

// childPID is the pid of the child that started last, from pidFile.
func childPID(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the child did not start: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// childGone reports whether the child whose pid is in pidFile is gone, with its group.
func childGone(t *testing.T, pidFile string) {
	t.Helper()
	pidGone(t, childPID(t, pidFile))
}

// pidGone reports whether the child pid is gone, with its group.
func pidGone(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the child %d is still there after the render returned (kill 0: %v)", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the child's process group %d is still there after the render returned (kill 0: %v)", pid, err)
	}
}

// hostile is a chart whose one template is tmpl.
func hostile(t *testing.T, tmpl string) []byte {
	return charttest.Files(t, "hostile", map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: hostile\nversion: 1.0.0\n",
		"values.yaml":         "{}\n",
		"templates/cm.yaml":   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  x: \"" + tmpl + "\"\n",
		"templates/_help.tpl": "",
	})
}

// TestLoopStoppedAtDeadline: a template that loops for hours is stopped at the context's
// deadline: the error says so (and wraps the cause and registry.ErrTooLarge), and the child
// process is gone.
func TestLoopStoppedAtDeadline(t *testing.T) {
	r, pidFile := renderer(t, 0)
	archive := hostile(t, `{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}{{ end }}{{ end }}{{ end }}`)
	cause := errors.New("the test's deadline")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 2*time.Second, cause)
	defer cancel()
	start := time.Now()
	imgs, err := r.Images(ctx, archive, chart.Limits{})
	if err == nil {
		t.Fatalf("the endless template rendered: %v", imgs)
	}
	var te *sandbox.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, cause) || !errors.Is(err, registry.ErrTooLarge) {
		t.Fatalf("error %q (%T): want a TimeoutError wrapping the cause and ErrTooLarge", err, err)
	}
	if want := "rendering the chart took longer than 2s and was stopped"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// The render would run for hours: it returned because the child was killed.
	if d := time.Since(start); d > time.Minute {
		t.Errorf("returned after %s", d)
	}
	childGone(t, pidFile)
}

// TestMemoryLimit: a template that allocates gigabytes is stopped by the child's memory
// limit, with an error that says so, and the parent's memory is not touched.
func TestMemoryLimit(t *testing.T) {
	for name, tmpl := range map[string]string{
		"one allocation": `{{ repeat 2000000000 "x" }}`,
		"many":           `{{ $s := list }}{{ range until 100000 }}{{ $s = append $s (repeat 100000 "x") }}{{ end }}{{ len $s }}`,
	} {
		t.Run(name, func(t *testing.T) {
			const limit = 256 << 20
			r, pidFile := renderer(t, limit)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := r.Images(context.Background(), hostile(t, tmpl), chart.Limits{})
			var me *sandbox.MemoryError
			if !errors.As(err, &me) || !errors.Is(err, registry.ErrTooLarge) {
				t.Fatalf("error %v (%T): want a MemoryError wrapping ErrTooLarge", err, err)
			}
			if want := "rendering the chart used more than 256 MiB of memory and was stopped"; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grew := int64(after.Sys) - int64(before.Sys); grew > 64<<20 {
				t.Errorf("the parent's memory grew by %d MiB", grew>>20)
			}
			childGone(t, pidFile)
		})
	}
}

// TestSameAsInProcess: a chart renders to the same images, and two versions compare to the
// same report, in a child as in this process; a chart that does not render fails with the
// same error.
func TestSameAsInProcess(t *testing.T) {
	files := func(version, image string) map[string]string {
		return map[string]string{
			"Chart.yaml":  "apiVersion: v2\nname: app\nversion: " + version + "\n",
			"values.yaml": "image: " + image + "\nport: 80\n",
			"templates/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: app
          image: {{ .Values.image }}
          ports:
            - containerPort: {{ .Values.port }}
`,
		}
	}
	base := charttest.Files(t, "app", files("1.0.0", "nginx:1.27"))
	cur := charttest.Files(t, "app", files("1.0.1", "nginx:1.28"))
	r, _ := renderer(t, 0)
	ctx := context.Background()

	want, err := registry.InProcess{}.Images(ctx, cur, chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Images(ctx, cur, chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 || !reflect.DeepEqual(got, want) {
		t.Errorf("images in a child %+v, in process %+v", got, want)
	}

	opts := release.Options{Source: "published 1.0.0"}
	wantRep, err := registry.InProcess{}.Check(ctx, base, cur, opts)
	if err != nil {
		t.Fatal(err)
	}
	gotRep, err := r.Check(ctx, base, cur, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantRep.Changes) == 0 || !reflect.DeepEqual(gotRep, wantRep) {
		t.Errorf("report in a child %+v\nin process %+v", gotRep, wantRep)
	}

	broken := hostile(t, `{{ fail "no" }}`)
	_, wantErr := registry.InProcess{}.Images(ctx, broken, chart.Limits{})
	_, gotErr := r.Images(ctx, broken, chart.Limits{})
	if wantErr == nil || gotErr == nil || gotErr.Error() != wantErr.Error() {
		t.Errorf("error in a child %v, in process %v", gotErr, wantErr)
	}
	if strings.Contains(gotErr.Error(), "\n") {
		t.Errorf("error of more than one line: %q", gotErr)
	}
}

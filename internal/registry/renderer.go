package registry

import (
	"bytes"
	"context"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/render"
)

// Renderer renders the templates of charts publishers send, with Helm's engine: for their
// container images (images.go) and for the semver discipline's analysis (discipline.go).
// A template can ask for any amount of memory or time, and Helm's engine cannot be stopped,
// so a server renders in a child process it can kill (internal/sandbox, wired by
// internal/server); InProcess, the default, renders in this process.
//
// When a render is stopped for exceeding a limit (its time: ctx's deadline; its memory), the
// error wraps ErrTooLarge, and, for the time, context.Cause(ctx).
type Renderer interface {
	// Images loads the chart archive (within lim) and returns the container images its
	// objects deploy, rendered with default values (render.Images).
	Images(ctx context.Context, archive []byte, lim chart.Limits) ([]render.ContainerImage, error)
	// Check loads two chart archives (within chart.Limits{}) and compares them as chartroom
	// check does (release.Check).
	Check(ctx context.Context, base, cur []byte, opts release.Options) (*release.Report, error)
}

// InProcess renders in the calling process and goroutine: a render ends when Helm's engine
// ends, whatever ctx says.
type InProcess struct{}

var _ Renderer = InProcess{}

// Images implements Renderer.
func (InProcess) Images(ctx context.Context, archive []byte, lim chart.Limits) ([]render.ContainerImage, error) {
	ch, err := chart.LoadArchive(bytes.NewReader(archive), lim)
	if err != nil {
		return nil, err
	}
	return render.Images(ctx, ch, render.Options{})
}

// Check implements Renderer.
func (InProcess) Check(ctx context.Context, base, cur []byte, opts release.Options) (*release.Report, error) {
	b, err := chart.LoadArchive(bytes.NewReader(base), chart.Limits{})
	if err != nil {
		return nil, err
	}
	c, err := chart.LoadArchive(bytes.NewReader(cur), chart.Limits{})
	if err != nil {
		return nil, err
	}
	return release.Check(ctx, b, c, opts)
}

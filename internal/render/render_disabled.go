//go:build chartroom_norender

package render

import (
	"context"

	"github.com/chartroom/chartroom/internal/chart"
)

// DefaultKubeVersion is the Kubernetes version Helm v3.22.0's `helm
// template` assumes without --kube-version.
func DefaultKubeVersion() string { return "v1.20.0" }

// Render answers [ErrUnavailable]: this build has no template engine.
func Render(ctx context.Context, ch *chart.Chart, opts Options) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrUnavailable
}

// Images answers [ErrUnavailable]: this build has no template engine.
func Images(ctx context.Context, ch *chart.Chart, opts Options) ([]ContainerImage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrUnavailable
}

// Available is false: this build has no template engine (Images and Render answer
// [ErrUnavailable]).
const Available = false

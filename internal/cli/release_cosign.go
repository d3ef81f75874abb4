package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/client"
)

// cosignSigning is what a release needs of cosign signatures: sign a published OCI chart
// version, adding nothing when the key signed it already, and check the version's
// signatures by the key. Each returns the signatures it wrote or found.
type cosignSigning interface {
	Sign(ctx context.Context, cl *client.Client, ref client.ChartRef, version string) ([]releaseSignature, error)
	Verify(ctx context.Context, cl *client.Client, ref client.ChartRef, version string) ([]releaseSignature, error)
}

// loadCosignSigning reads --cosign-key for a release to. This build has no cosign
// signatures: it refuses, rather than release charts without the signature asked for.
func loadCosignSigning(_ *cobra.Command, keyFile, to string) (cosignSigning, error) {
	return nil, usageError{fmt.Errorf("--cosign-key %s: cosign signatures are not available in this build of chartroom; nothing was released: sign with --key and --keyring (.prov), or use a chartroom release that signs with cosign", keyFile)}
}

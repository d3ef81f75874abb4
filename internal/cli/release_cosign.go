package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/cosign"
)

// cosignSigning is what a release needs of cosign signatures: sign a published OCI chart
// version, adding nothing when the key signed it already, and check the version's
// signatures by the key. Each returns the signatures it wrote or found.
type cosignSigning interface {
	Sign(ctx context.Context, cl *client.Client, ref client.ChartRef, version string) ([]releaseSignature, error)
	Verify(ctx context.Context, cl *client.Client, ref client.ChartRef, version string) ([]releaseSignature, error)
}

// loadCosignSigning reads and unlocks the cosign private key --cosign-key names, as sign
// oci://… does (COSIGN_PASSWORD, else a prompt on a terminal), for a release to to.
func loadCosignSigning(cmd *cobra.Command, keyFile, to string) (cosignSigning, error) {
	if !strings.HasPrefix(to, "oci://") {
		return nil, usageError{fmt.Errorf("--cosign-key signs charts in OCI registries; --to %s is a chart repository: release to oci://HOST/NAMESPACE, or sign with --key and --keyring (.prov)", to)}
	}
	priv, err := loadCosignKey(cmd, keyFile, "")
	if err != nil {
		return nil, toolErr(errors.New(strings.Replace(err.Error(), "--key ", "--cosign-key ", 1)))
	}
	s, err := cosign.NewKeySigner(priv)
	if err != nil {
		return nil, fmt.Errorf("--cosign-key %s: %w", keyFile, err)
	}
	return &keyCosign{signer: s}, nil
}

// keyCosign signs with a cosign key pair.
type keyCosign struct{ signer *cosign.KeySigner }

func (k *keyCosign) Sign(ctx context.Context, cl *client.Client, ref client.ChartRef, version string) ([]releaseSignature, error) {
	res, err := cl.SignOCI(ctx, ref, k.signer, client.SignOCIOptions{Version: version})
	if err != nil {
		return nil, clientError(err)
	}
	added := false
	for _, s := range res.Signatures {
		added = added || !s.Already
	}
	return []releaseSignature{{Kind: "cosign", Signer: k.signer.PublicKey().ID(), Added: added}}, nil
}

func (k *keyCosign) Verify(ctx context.Context, cl *client.Client, ref client.ChartRef, version string) ([]releaseSignature, error) {
	res, err := cl.VerifyOCI(ctx, ref, k.signer.Verifier(), version)
	if err != nil {
		return nil, clientError(err)
	}
	var out []releaseSignature
	for _, s := range res.Verified() {
		out = append(out, releaseSignature{Kind: "cosign", Signer: s.Signer})
		break
	}
	return out, nil
}

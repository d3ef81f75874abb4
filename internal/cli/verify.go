package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newVerifyCmd() *cobra.Command {
	var (
		keyring, provPath, output, key string
		oci                            ociFlags
	)
	c := &cobra.Command{
		Use:   "verify ARCHIVE | oci://HOST/NAMESPACE/NAME",
		Short: "Verify a chart archive's .prov (helm's), or a chart's cosign signatures in an OCI registry",
		Long: `Verify that ARCHIVE.prov is validly signed by a key in the keyring and vouches for
ARCHIVE's exact bytes, as helm verify does. Provenance files made by helm package --sign
and by chartroom sign are both accepted; the keyring may be binary (gpg --export) or
ASCII-armored (gpg --export --armor).

A failed check (exit 1) says which part failed: the archive was modified (its digest
differs from the signed one), the .prov was modified (the signature does not match), or
the signing key is not in the keyring. Unreadable inputs exit 2.

Given oci://HOST/NAMESPACE/NAME (and --version, or :VERSION), check that chart version's
cosign signatures with the public key --key names (cosign.pub), as cosign verify --key
--insecure-ignore-tlog does: the layers of its sha256-<digest>.sig tag (cosign sign's
default), its sigstore bundle referrers (cosign sign --new-bundle-format) and its OCI 1.1
signature referrers. It passes when one of them verifies with the key and signs exactly
the version's manifest, and lists each signature found, with why any was not accepted;
otherwise it exits 1 saying what it found. Transparency-log entries are not checked
(chartroom does not reach Rekor), and keyless signatures (a Fulcio certificate) are not
accepted: use cosign verify for those.` + exitCodesHelp,
		Example: `  chartroom verify dist/mychart-1.4.2.tgz --keyring pubring.gpg
  chartroom verify mychart-1.4.2.tgz --keyring publisher.asc --prov downloads/mychart-1.4.2.tgz.prov
  chartroom verify mychart-1.4.2.tgz --keyring pubring.gpg -o json | jq -r .signer
  chartroom verify oci://charts.example.com/team/mychart --version 1.4.2 --key cosign.pub`,
		Args: oneArg("the chart archive (.tgz) or oci://HOST/NAMESPACE/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if isOCIRef(args[0]) {
				for _, n := range []string{"keyring", "prov"} {
					if cmd.Flags().Changed(n) {
						return usageError{fmt.Errorf("--%s is for .prov files of chart archives; an oci:// chart's cosign signatures are checked with --key cosign.pub", n)}
					}
				}
				return verifyOCI(cmd, args[0], key, &oci, output)
			}
			if err := archiveMisuse(cmd, "an archive is verified against its .prov file"); err != nil {
				return err
			}
			if key != "" {
				return usageError{errors.New("--key is for oci:// references (a cosign public key); an archive's .prov is checked with --keyring")}
			}
			archive := args[0]
			if err := checkArchiveFile("verify", archive); err != nil {
				return err
			}
			if provPath == "" {
				provPath = archive + ".prov"
			}
			prov, err := readProv(provPath)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("verify %s: no provenance file %s: download the .prov published with the archive (or pass --prov FILE), or sign it with chartroom sign", archive, provPath)
			case errors.Is(err, provenance.ErrMalformed):
				return checkFailed("verify %s: %s: %w", archive, provPath, err)
			case err != nil:
				return fmt.Errorf("verify %s: %w", archive, unwrapPathError(err))
			}
			if keyring == "" {
				keyring = defaultKeyring()
			}
			ring, err := readKeyring(keyring)
			if err != nil {
				return toolErr(fmt.Errorf("verify %s: %w", archive, err))
			}
			f, err := os.Open(archive)
			if err != nil {
				return fmt.Errorf("verify %s: %w", archive, unwrapPathError(err))
			}
			defer f.Close()
			v, err := provenance.Verify(f, filepath.Base(archive), prov, ring)
			if err != nil {
				for _, failed := range []error{provenance.ErrMalformed, provenance.ErrBadSignature,
					provenance.ErrUnknownKey, provenance.ErrKeyExpired, provenance.ErrDigestMismatch} {
					if errors.Is(err, failed) {
						return toolErr(checkFailed("verify %s: %w", archive, err))
					}
				}
				return toolErr(fmt.Errorf("verify %s: %w", archive, err))
			}
			res := verifyResult{Archive: archive, Prov: provPath, Signer: v.Signer(),
				Fingerprint: fmt.Sprintf("%X", v.SignedBy.PrimaryKey.Fingerprint), Hash: v.FileHash}
			if v.Metadata != nil {
				res.Name, res.Version = v.Metadata.Name, v.Metadata.Version
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSONResult(out, res)
			}
			// helm verify's wording, so scripts reading it keep working.
			fmt.Fprintf(out, "Signed by: %s\nUsing Key With Fingerprint: %s\nChart Hash Verified: %s\n", termsafe.Text(res.Signer), res.Fingerprint, res.Hash)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyring, "keyring", "", "keyring of trusted public keys, binary or ASCII-armored (default $GNUPGHOME/pubring.gpg, else ~/.gnupg/pubring.gpg)")
	f.StringVar(&provPath, "prov", "", "provenance file (default ARCHIVE.prov)")
	f.StringVar(&key, "key", "", "with oci://: the signer's cosign public key file (cosign.pub)")
	oci.register(f, false)
	addOutputFlag(c, &output)
	return c
}

// verifyResult is verify's --output json.
type verifyResult struct {
	Archive     string `json:"archive"`
	Prov        string `json:"prov"`
	Name        string `json:"name,omitempty"`
	Version     string `json:"version,omitempty"`
	Signer      string `json:"signer"`
	Fingerprint string `json:"fingerprint"`
	// Hash is the verified archive digest, "sha256:<hex>".
	Hash string `json:"hash"`
}

// maxProv bounds a .prov file: Chart.yaml, one digest and a signature fit in a few KiB.
const maxProv = 1 << 20

func readProv(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProv+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxProv {
		return nil, fmt.Errorf("%w: larger than %d bytes, which no provenance file is", provenance.ErrMalformed, maxProv)
	}
	return data, nil
}

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/cosign"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newKeygenCmd() *cobra.Command {
	var (
		prefix, passFile, output string
		force                    bool
	)
	c := &cobra.Command{
		Use:   "keygen",
		Short: "Make a cosign key pair for signing charts in OCI registries",
		Long: `Make an ECDSA P-256 key pair in cosign's format, as cosign generate-key-pair does:
PREFIX.key, the private key encrypted with a password (an "ENCRYPTED SIGSTORE PRIVATE
KEY": scrypt and NaCl secretbox), readable only by you (0600), and PREFIX.pub, the public
key. chartroom sign oci://… --key PREFIX.key signs with it; chartroom verify and cosign
verify --key PREFIX.pub verify with the public key. cosign reads the private key too
(cosign sign --key PREFIX.key).

The password comes from --passphrase-file (its first line, - for stdin), else
COSIGN_PASSWORD (set, even empty: an empty password), else a prompt on a terminal (asked
twice). Existing key files are not overwritten unless --force is given.` + exitCodesHelp,
		Example: `  COSIGN_PASSWORD=$KEY_PASS chartroom keygen
  chartroom keygen --output-key-prefix release --passphrase-file pass.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			privPath, pubPath := prefix+".key", prefix+".pub"
			if !force {
				for _, p := range []string{privPath, pubPath} {
					if _, err := os.Lstat(p); err == nil {
						return fmt.Errorf("keygen: %s exists: keep it, choose another --output-key-prefix, or pass --force to replace it", p)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return fmt.Errorf("keygen: %w", unwrapPathError(err))
					}
				}
			}
			pass, err := newKeyPassword(cmd, passFile)
			if err != nil {
				return err
			}
			key, err := cosign.GenerateKey()
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			privPEM, err := cosign.EncryptPrivateKey(key, pass)
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			pub, err := cosign.NewPublicKey(&key.PublicKey)
			if err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			for _, f := range []struct {
				path string
				perm fs.FileMode
				data []byte
			}{{privPath, 0o600, privPEM}, {pubPath, 0o644, pub.PEM()}} {
				err := chart.WriteFileAtomic(cmd.Context(), f.path, f.perm, func(w io.Writer) error {
					_, err := w.Write(f.data)
					return err
				})
				if err != nil {
					return fmt.Errorf("keygen: %w", unwrapPathError(err))
				}
			}
			out := cmd.OutOrStdout()
			res := keygenResult{PrivateKey: privPath, PublicKey: pubPath, Key: pub.ID()}
			if output == "json" {
				return writeJSONResult(out, res)
			}
			fmt.Fprintf(out, "Private key written to %s\nPublic key written to %s\nKey: %s\n", termsafe.Text(privPath), termsafe.Text(pubPath), res.Key)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&prefix, "output-key-prefix", "cosign", "write the keys to PREFIX.key and PREFIX.pub (cosign's flag)")
	f.StringVar(&passFile, "passphrase-file", "", "file whose first line is the private key's password, - for stdin (else $"+envCosignPassword+")")
	f.BoolVar(&force, "force", false, "replace existing key files")
	addOutputFlag(c, &output)
	return c
}

// keygenResult is keygen's --output json.
type keygenResult struct {
	PrivateKey string `json:"privateKey"`
	PublicKey  string `json:"publicKey"`
	// Key is the public key's ID, "sha256:<hex>" of its PKIX encoding.
	Key string `json:"key"`
}

// newKeyPassword is the password of a new key: --passphrase-file, else COSIGN_PASSWORD,
// else asked twice on a terminal.
func newKeyPassword(cmd *cobra.Command, passFile string) ([]byte, error) {
	if passFile != "" {
		pass, _, err := (&signingKeyFlags{passFile: passFile}).passphrase(cmd.InOrStdin())
		return pass, err
	}
	if v, ok := os.LookupEnv(envCosignPassword); ok {
		return []byte(v), nil
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil, usageError{fmt.Errorf("keygen needs a password for the private key: set %s (empty for none, as cosign) or pass --passphrase-file FILE", envCosignPassword)}
	}
	errw := cmd.ErrOrStderr()
	fmt.Fprint(errw, "Enter password for private key: ")
	first, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(errw)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(errw, "Enter password for private key again: ")
	again, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(errw)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	if !bytes.Equal(first, again) {
		return nil, errors.New("keygen: the passwords differ; nothing written")
	}
	return first, nil
}

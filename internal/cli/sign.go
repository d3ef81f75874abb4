package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// Environment variables holding a signing key's passphrase, in order of precedence
// (after --passphrase-file). HELM_KEY_PASSPHRASE is helm package --sign's.
const (
	envPassphrase     = "CHARTROOM_KEY_PASSPHRASE"
	envHelmPassphrase = "HELM_KEY_PASSPHRASE"
)

func newSignCmd() *cobra.Command {
	var (
		key    signingKeyFlags
		oci    ociFlags
		output string
	)
	c := &cobra.Command{
		Use:   "sign ARCHIVE | oci://HOST/NAMESPACE/NAME",
		Short: "Sign a chart archive (.prov, helm's) or a chart in an OCI registry (cosign's)",
		Long: `Sign a chart archive with an OpenPGP key, writing ARCHIVE.prov next to it: the
provenance file helm package --sign writes, which helm verify --keyring and
helm install --verify accept.

The keyring may be binary (gpg --export-secret-keys KEYID > secring.gpg, the only form
helm reads) or ASCII-armored (--armor). --key picks the key by part of its identity
(a name or email) or by key ID, and may be left out when the keyring holds one secret
key. A passphrase-protected key is unlocked with the first line of --passphrase-file
(- for stdin), else the environment variable CHARTROOM_KEY_PASSPHRASE, else
HELM_KEY_PASSPHRASE (helm's).

The archive is checked to be a valid chart first; the .prov is written atomically.

Given oci://HOST/NAMESPACE/NAME (and --version, or :VERSION), sign that chart version in
its registry as cosign sign --key does, with the cosign private key --key names (chartroom
keygen, or cosign generate-key-pair): cosign verify --key cosign.pub --insecure-ignore-tlog
and chartroom verify accept it. --form says which forms are written: both (the
default), tag (a layer of the sha256-<digest>.sig tag, cosign 2's default, which every
cosign and Flux read) or bundle (a sigstore bundle referrer, cosign sign
--new-bundle-format, which cosign 3 and Flux look for first). Signing again with the same
key writes nothing. The key's password comes from --passphrase-file, else COSIGN_PASSWORD
(as for cosign), else a prompt on a terminal. Keyless signing (Fulcio, Rekor) is not
supported; nothing is sent to a transparency log.` + exitCodesHelp,
		Example: `  chartroom sign dist/mychart-1.4.2.tgz --key 'Jane Doe' --keyring secring.gpg
  CHARTROOM_KEY_PASSPHRASE=$KEY_PASS chartroom sign dist/mychart-1.4.2.tgz --keyring secret.asc
  chartroom sign dist/mychart-1.4.2.tgz --keyring secring.gpg --passphrase-file - < pass.txt
  COSIGN_PASSWORD=$KEY_PASS chartroom sign oci://charts.example.com/team/mychart --version 1.4.2 --key cosign.key`,
		Args: oneArg("the chart archive (.tgz) or oci://HOST/NAMESPACE/NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if isOCIRef(args[0]) {
				return signOCI(cmd, args[0], key, &oci, output)
			}
			if err := archiveMisuse(cmd, "an archive is signed into its .prov file"); err != nil {
				return err
			}
			archive := args[0]
			if err := checkArchiveFile("sign", archive); err != nil {
				return err
			}
			s, err := key.load(cmd)
			if err != nil {
				return toolErr(err)
			}
			res, err := s.signFile(cmd, archive)
			if err != nil {
				return toolErr(err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSONResult(out, res)
			}
			fmt.Fprintf(out, "signed %s by %s (%s) → %s\n", termsafe.Text(res.Archive), termsafe.Text(res.Signer), res.Fingerprint, termsafe.Text(res.Prov))
			return nil
		},
	}
	key.register(c, false)
	c.Flags().Lookup("key").Usage += "; with oci://, the cosign private key file"
	oci.register(c.Flags(), true)
	addOutputFlag(c, &output)
	return c
}

// signResult is sign's --output json.
type signResult struct {
	Archive     string `json:"archive"`
	Prov        string `json:"prov"`
	Signer      string `json:"signer"`
	Fingerprint string `json:"fingerprint"`
	// Hash is the signed archive digest, "sha256:<hex>", as the .prov lists it.
	Hash string `json:"hash"`
}

// signingKeyFlags are the flags choosing and unlocking a signing key (helm's names).
type signingKeyFlags struct {
	key, keyring, passFile string
}

func (k *signingKeyFlags) register(c *cobra.Command, withSign bool) {
	suffix := ""
	if withSign {
		suffix = " (with --sign)"
	}
	f := c.Flags()
	f.StringVar(&k.key, "key", "", "the signing key: part of its identity (name or email) or its key ID; optional when the keyring holds one secret key"+suffix)
	f.StringVar(&k.keyring, "keyring", "", "keyring holding the secret key, binary or ASCII-armored (default $GNUPGHOME/pubring.gpg, else ~/.gnupg/pubring.gpg)"+suffix)
	f.StringVar(&k.passFile, "passphrase-file", "", "file whose first line is the key's passphrase, - for stdin (else $"+envPassphrase+" or $"+envHelmPassphrase+")"+suffix)
}

func (k *signingKeyFlags) changed(cmd *cobra.Command) bool {
	for _, n := range []string{"key", "keyring", "passphrase-file"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// signer is an unlocked signing key.
type signer struct {
	entity *openpgp.Entity
}

// load reads the keyring, picks the key and unlocks it.
func (k *signingKeyFlags) load(cmd *cobra.Command) (*signer, error) {
	path := k.keyring
	if path == "" {
		path = defaultKeyring()
	}
	ring, err := readKeyring(path)
	if err != nil {
		return nil, err
	}
	pass, source, err := k.passphrase(cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	e, err := provenance.SignerFromKeyring(ring, k.key, pass)
	switch {
	case errors.Is(err, provenance.ErrPassphraseRequired):
		return nil, fmt.Errorf("%w: pass --passphrase-file FILE or set %s", err, envPassphrase)
	case errors.Is(err, provenance.ErrWrongPassphrase):
		return nil, fmt.Errorf("%w (passphrase from %s)", err, source)
	case errors.Is(err, provenance.ErrNoPrivateKey):
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	case err != nil:
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	return &signer{entity: e}, nil
}

// passphrase returns the passphrase and where it came from; nil when none is given.
func (k *signingKeyFlags) passphrase(stdin io.Reader) ([]byte, string, error) {
	if k.passFile != "" {
		var r io.Reader
		source := "--passphrase-file " + k.passFile
		if k.passFile == "-" {
			r, source = stdin, "standard input"
		} else {
			f, err := os.Open(k.passFile)
			if err != nil {
				return nil, "", fmt.Errorf("--passphrase-file: %w", unwrapPathError(err))
			}
			defer f.Close()
			r = f
		}
		line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, "", fmt.Errorf("--passphrase-file: read %s: %w", k.passFile, err)
		}
		return []byte(strings.TrimRight(line, "\r\n")), source, nil
	}
	for _, env := range []string{envPassphrase, envHelmPassphrase} {
		if v, ok := os.LookupEnv(env); ok && v != "" {
			return []byte(v), "$" + env, nil
		}
	}
	return nil, "", nil
}

// signFile signs the archive at path and writes path.prov atomically.
func (s *signer) signFile(cmd *cobra.Command, path string) (*signResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", unwrapPathError(err))
	}
	defer f.Close()
	name := filepath.Base(path)
	prov, err := provenance.Sign(f, name, s.entity)
	if err != nil {
		if errors.Is(err, chart.ErrInvalidArchive) {
			return nil, fmt.Errorf("sign %s: not a valid chart archive: %s", path, strings.TrimPrefix(err.Error(), "sign "+name+": "))
		}
		return nil, err
	}
	st, err := provenance.Parse(prov)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	dest := path + ".prov"
	err = chart.WriteFileAtomic(cmd.Context(), dest, 0o644, func(w io.Writer) error {
		_, err := w.Write(prov)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", path, err)
	}
	return &signResult{Archive: path, Prov: dest, Signer: identityOf(s.entity),
		Fingerprint: fmt.Sprintf("%X", s.entity.PrimaryKey.Fingerprint), Hash: st.Files[name]}, nil
}

// defaultKeyring is helm's: $GNUPGHOME/pubring.gpg, else ~/.gnupg/pubring.gpg.
func defaultKeyring() string {
	if v, ok := os.LookupEnv("GNUPGHOME"); ok {
		return filepath.Join(v, "pubring.gpg")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "~"
	}
	return filepath.Join(home, ".gnupg", "pubring.gpg")
}

// readKeyring loads a keyring file with errors that say what to pass instead.
func readKeyring(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("keyring %s does not exist: pass --keyring FILE, exported with gpg --export (public keys) or gpg --export-secret-keys (to sign)", path)
	case err != nil:
		return nil, fmt.Errorf("keyring: %w", unwrapPathError(err))
	}
	ring, err := provenance.LoadKeyring(bytes.NewReader(data))
	if err != nil {
		hint := "export one with gpg --export KEYID > keyring.gpg (or --export-secret-keys to sign)"
		if len(data) >= 12 && string(data[8:12]) == "KBXf" {
			hint = "this is gpg's keybox (pubring.kbx), which is not a keyring: " + hint
		}
		return nil, fmt.Errorf("keyring %s is not an OpenPGP keyring (%s): %s", path, strings.Join(strings.Fields(err.Error()), " "), hint)
	}
	return ring, nil
}

// identityOf names a key: its primary identity, else its first identity, else its key ID.
func identityOf(e *openpgp.Entity) string {
	if pi := e.PrimaryIdentity(); pi != nil && pi.Name != "" {
		return pi.Name
	}
	var ids []string
	for n := range e.Identities {
		ids = append(ids, n)
	}
	sort.Strings(ids)
	if len(ids) > 0 && ids[0] != "" {
		return ids[0]
	}
	return e.PrimaryKey.KeyIdString()
}

// checkArchiveFile says plainly when path is not a file.
func checkArchiveFile(op, path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %s does not exist", op, path)
	case err != nil:
		return fmt.Errorf("%s: %w", op, unwrapPathError(err))
	case fi.IsDir():
		return fmt.Errorf("%s: %s is a directory: give a chart archive (.tgz); chartroom package DIR makes one", op, path)
	}
	return nil
}

// unwrapPathError drops the operation from an os error: "open x: permission denied"
// becomes "x: permission denied".
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

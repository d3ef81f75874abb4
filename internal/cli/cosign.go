package cli

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/cosign"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// envCosignPassword is cosign's variable for the password of its private keys.
const envCosignPassword = "COSIGN_PASSWORD"

// ociFlags are sign's and verify's flags for an oci:// reference (cosign signatures).
type ociFlags struct {
	client  clientFlags
	version string
	form    string
}

// ociOnly lists the flags that apply to oci:// references only.
var ociOnly = []string{"version", "form", "username", "password", "password-stdin", "plain-http",
	flagHTTPCredentials, "insecure-skip-tls-verify", "ca-file", "cert-file", "key-file"}

func (f *ociFlags) register(fs *pflag.FlagSet, sign bool) {
	fs.StringVar(&f.version, "version", "", "with oci://: the chart version or constraint (^1.2); default: the newest non-prerelease version")
	if sign {
		fs.StringVar(&f.form, "form", "both", "with oci://: the signature forms to write: both, tag (the sha256-<digest>.sig tag) or bundle (a sigstore bundle referrer)")
	}
	f.client.register(fs, true, false)
}

// archiveMisuse refuses oci://-only flags given with an archive.
func archiveMisuse(cmd *cobra.Command, what string) error {
	for _, n := range ociOnly {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
			return usageError{fmt.Errorf("--%s applies to oci:// references; %s", n, what)}
		}
	}
	return nil
}

// forms reads --form.
func (f *ociFlags) forms() (client.CosignForms, error) {
	switch f.form {
	case "both", "":
		return client.CosignFormBoth, nil
	case "tag":
		return client.CosignFormTag, nil
	case "bundle":
		return client.CosignFormBundle, nil
	}
	return 0, usageError{fmt.Errorf("--form %q: expected both, tag or bundle", f.form)}
}

// newClient is the registry client of sign and verify oci://… (progress bars never drawn:
// signatures are small).
func (f *ociFlags) newClient(cmd *cobra.Command) (*client.Client, error) {
	cr, err := f.client.credentials(cmd)
	if err != nil {
		return nil, err
	}
	f.client.output = "json"
	return f.client.newClient(cmd, cr)
}

// isOCIRef reports whether a command's argument is an oci:// reference.
func isOCIRef(arg string) bool { return strings.HasPrefix(arg, "oci://") }

// signOCI is `chartroom sign oci://…`: cosign signatures made with a cosign private key.
func signOCI(cmd *cobra.Command, arg string, key signingKeyFlags, f *ociFlags, output string) error {
	switch {
	case key.keyring != "":
		return usageError{errors.New("--keyring is for .prov files of chart archives; an oci:// chart is signed with a cosign key: --key cosign.key")}
	case key.key == "":
		return usageError{errors.New("sign oci://… needs --key FILE: a cosign private key (chartroom keygen, or cosign generate-key-pair)")}
	}
	forms, err := f.forms()
	if err != nil {
		return err
	}
	priv, err := loadCosignKey(cmd, key.key, key.passFile)
	if err != nil {
		return toolErr(err)
	}
	signer, err := cosign.NewKeySigner(priv)
	if err != nil {
		return toolErr(fmt.Errorf("--key %s: %w", key.key, err))
	}
	cl, err := f.newClient(cmd)
	if err != nil {
		return err
	}
	ref, err := cl.ParseChartRef([]string{arg}, "")
	if err != nil {
		return usageError{err}
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	res, err := cl.SignOCI(ctx, ref, signer, client.SignOCIOptions{Version: f.version, Forms: forms})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	key0 := signer.PublicKey().ID()
	if output == "json" {
		return writeJSONResult(out, cosignSignResult{SignOCIResult: res, Key: key0})
	}
	fmt.Fprintf(out, "Signed: %s\nDigest: %s\nKey: %s\n", termsafe.Text(res.Ref), res.ManifestDigest, key0)
	for _, s := range res.Signatures {
		state := "written"
		if s.Already {
			state = "already there"
		}
		switch s.Form {
		case "tag":
			fmt.Fprintf(out, "Signature tag: %s (%s, %s)\n", s.Tag, s.Digest, state)
		default:
			fmt.Fprintf(out, "Bundle referrer: %s (%s)\n", s.Digest, state)
		}
	}
	return nil
}

// cosignSignResult is sign oci://…'s --output json.
type cosignSignResult struct {
	*client.SignOCIResult
	// Key is the signing key's ID.
	Key string `json:"key"`
}

// verifyOCI is `chartroom verify oci://…`: cosign signatures checked with a public key.
func verifyOCI(cmd *cobra.Command, arg, keyPath string, f *ociFlags, output string) error {
	if keyPath == "" {
		return usageError{errors.New("verify oci://… needs --key FILE: the signer's cosign public key (cosign.pub)")}
	}
	pub, err := loadCosignPublicKey(keyPath)
	if err != nil {
		return toolErr(err)
	}
	cl, err := f.newClient(cmd)
	if err != nil {
		return err
	}
	ref, err := cl.ParseChartRef([]string{arg}, "")
	if err != nil {
		return usageError{err}
	}
	ctx, stop := interruptible(cmd)
	defer stop()
	res, err := cl.VerifyOCI(ctx, ref, cosign.NewKeyVerifier(pub), f.version)
	if err != nil {
		return clientError(err)
	}
	status := cl.RegistryStatus(ctx, ref, res.Name, res.Version)
	out := cmd.OutOrStdout()
	if output == "json" {
		return writeJSONResult(out, struct {
			*client.VerifyOCIResult
			Registry *client.RegistryStatus `json:"registry,omitempty"`
		}{res, status})
	}
	defer printRegistryStatus(out, status)
	fmt.Fprintf(out, "Verified: %s\nDigest: %s\n", termsafe.Text(res.Ref), res.ManifestDigest)
	for _, s := range res.Signatures {
		if s.Verified {
			fmt.Fprintf(out, "Signed by: %s (%s %s)\n", s.Signer, s.Form, s.Digest)
		} else {
			fmt.Fprintf(out, "Not accepted: %s %s: %s\n", s.Form, s.Digest, termsafe.Text(s.Problem))
		}
	}
	return nil
}

// loadCosignKey reads and decrypts a cosign private key. Its password comes from
// --passphrase-file, else COSIGN_PASSWORD (set, even empty), else a prompt on a terminal;
// without any, an unencrypted key (an empty password) is tried.
func loadCosignKey(cmd *cobra.Command, path, passFile string) (*ecdsa.PrivateKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("-----BEGIN "+cosign.PublicKeyPEMType+"-----")) {
		return nil, fmt.Errorf("--key %s is a public key: sign with the private key (cosign.key); the public one verifies", path)
	}
	var pass []byte
	source := ""
	if passFile != "" {
		if pass, source, err = (&signingKeyFlags{passFile: passFile}).passphrase(cmd.InOrStdin()); err != nil {
			return nil, err
		}
	} else if v, ok := os.LookupEnv(envCosignPassword); ok {
		pass, source = []byte(v), "$"+envCosignPassword
	} else if in, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Enter password for private key %s: ", path)
		pass, err = term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("read the password: %w", err)
		}
		source = "the prompt"
	}
	key, err := cosign.DecryptPrivateKey(data, pass)
	switch {
	case errors.Is(err, cosign.ErrWrongPassword) && source == "":
		return nil, fmt.Errorf("--key %s is encrypted with a password: set %s (as for cosign sign) or pass --passphrase-file FILE", path, envCosignPassword)
	case errors.Is(err, cosign.ErrWrongPassword):
		return nil, fmt.Errorf("--key %s: %w (password from %s)", path, err, source)
	case errors.Is(err, cosign.ErrNotKey):
		return nil, fmt.Errorf("--key %s: %w: give a private key written by chartroom keygen or cosign generate-key-pair", path, err)
	case err != nil:
		return nil, fmt.Errorf("--key %s: %w", path, err)
	}
	return key, nil
}

// loadCosignPublicKey reads a cosign public key.
func loadCosignPublicKey(path string) (*cosign.PublicKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return nil, fmt.Errorf("--key %s is a private key: verify with the public key (cosign.pub), and keep the private one secret", path)
	}
	pub, err := cosign.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w: give the signer's public key (cosign.pub, or cosign public-key --key cosign.key)", path, err)
	}
	return pub, nil
}

// readKeyFile reads a small key file.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--key %s does not exist: make a key pair with chartroom keygen (or cosign generate-key-pair)", path)
	case err != nil:
		return nil, fmt.Errorf("--key: %w", unwrapPathError(err))
	case fi.IsDir():
		return nil, fmt.Errorf("--key %s is a directory: give the key file", path)
	case fi.Size() > 64<<10:
		return nil, fmt.Errorf("--key %s has %d bytes; a key file has a few hundred", path, fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", unwrapPathError(err))
	}
	return data, nil
}

// printRegistryStatus prints what a chartroom registry records of a version (nothing for
// other registries): the status of its signatures as the registry checked them against the
// keys its namespace trusts, its quarantine, its semver discipline finding.
func printRegistryStatus(w io.Writer, st *client.RegistryStatus) {
	if st == nil {
		return
	}
	for _, s := range []struct {
		kind string
		st   client.SignatureStatus
	}{{".prov", st.Signatures.Prov}, {"cosign", st.Signatures.Cosign}} {
		fmt.Fprintf(w, "Registry %s: %s", s.kind, termsafe.Text(s.st.Status))
		switch {
		case s.st.Signer != "":
			fmt.Fprintf(w, " (by trusted key %s)", termsafe.Text(s.st.Signer))
		case s.st.Error != "":
			fmt.Fprintf(w, " (%s)", termsafe.Text(s.st.Error))
		}
		fmt.Fprintln(w)
	}
	if st.Quarantined {
		fmt.Fprintln(w, "Registry: quarantined (the namespace is signed-only; readers do not see this version)")
	}
	if st.ReleaseFinding != "" {
		fmt.Fprintf(w, "Registry release finding: %s\n", termsafe.Text(st.ReleaseFinding))
	}
}

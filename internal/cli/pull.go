package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// clientVerifyFlags are --verify and --keyring, as helm names them.
type clientVerifyFlags struct {
	verify  bool
	keyring string
}

func (v *clientVerifyFlags) register(fs *pflag.FlagSet, what string) {
	fs.BoolVar(&v.verify, "verify", false, "verify "+what+" against its provenance file (.prov) before writing anything")
	fs.StringVar(&v.keyring, "keyring", clientDefaultKeyring(), "public keys used by --verify")
}

// clientDefaultKeyring is helm's default keyring: $GNUPGHOME/pubring.gpg or
// ~/.gnupg/pubring.gpg.
func clientDefaultKeyring() string {
	if v, ok := os.LookupEnv("GNUPGHOME"); ok {
		return filepath.Join(v, "pubring.gpg")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".gnupg", "pubring.gpg")
}

// verifier loads the keyring when --verify is given (nil otherwise).
func (v *clientVerifyFlags) verifier() (client.VerifyFunc, error) {
	if !v.verify {
		return nil, nil
	}
	f, err := os.Open(v.keyring)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--keyring %s: no such file; export the publisher's public key (gpg --export KEYID > pubring.gpg) and pass it with --keyring", v.keyring)
		}
		return nil, fmt.Errorf("--keyring: %w", err)
	}
	defer f.Close()
	keyring, err := provenance.LoadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("--keyring %s: %w", v.keyring, err)
	}
	return keyringVerifier(keyring), nil
}

// keyringVerifier accepts archives whose .prov a key of keyring signed.
func keyringVerifier(keyring openpgp.EntityList) client.VerifyFunc {
	return func(archive io.Reader, name string, prov []byte) (string, error) {
		res, err := provenance.Verify(archive, name, prov, keyring)
		if err != nil {
			return "", err
		}
		return res.Signer(), nil
	}
}

func newPullCmd() *cobra.Command {
	var (
		f       clientFlags
		v       clientVerifyFlags
		version string
		repo    string
		dest    string
		prov    bool
		untar   bool
		untarTo string
	)
	cmd := &cobra.Command{
		Use:   "pull CHART [NAME]",
		Short: "Download a chart version from an OCI namespace or a chart repository",
		Long: `Download a chart version as NAME-VERSION.tgz (and NAME-VERSION.tgz.prov when the chart
has a provenance file) into --destination. Nothing is written unless the whole archive
arrived, matches its digest, is a valid chart of that name and version, and (with
--verify) carries a valid signature by a key in --keyring.

CHART is one of
  oci://HOST/NAMESPACE/NAME[:VERSION]   an OCI repository
  https://HOST/NAMESPACE NAME           a chart repository and a chart name
  NAME --repo https://HOST/NAMESPACE    the same, spelled as helm pull spells it
  REPO/NAME                             a repository added with helm repo add
  https://HOST/PATH/NAME-VERSION.tgz    one chart archive, saved under its file name

--version takes a version or a constraint (^1.2, ~1.4.0, ">=1.0 <2"); without it the
newest version that is not a prerelease is pulled.

--untar writes the chart's files into DESTINATION/UNTARDIR/NAME instead of the archive, as
helm pull --untar does, once every check passed. The archive must hold only regular files
at clean relative paths (no links, no absolute or ".." paths); NAME is written whole
through a temporary directory, and never into an existing file or directory.

Credentials: --username with --password-stdin (or --password), else CHARTROOM_USERNAME
and CHARTROOM_PASSWORD, else the credentials helm repo add stored for exactly that
repository URL, else the login stored for HOST (chartroom login, helm registry login,
docker login). A stored login crosses the network only encrypted: it goes to https://
repositories, to oci:// registries (over plain HTTP only with --plain-http), and to
http:// ones only on a loopback host or with --insecure-send-credentials-over-http.

Exit codes: 0 downloaded, 1 verification failed (bad signature, unknown key, altered
archive, or no provenance file with --verify), 2 usage, I/O, authentication or registry
error.`,
		Example: `  chartroom pull oci://charts.example.com/team/myapp --version 1.4.2
  chartroom pull https://charts.example.com/team myapp --version '^1.4'
  chartroom pull myapp --repo https://charts.example.com/team -d charts/
  chartroom pull oci://charts.example.com/team/myapp --version 1.4.2 --verify --keyring pubring.gpg
  chartroom pull oci://charts.example.com/team/myapp --version 1.4.2 --untar --untardir charts
  chartroom pull https://charts.example.com/team/charts/myapp-1.4.2.tgz
  chartroom pull oci://localhost:8080/team/myapp --plain-http -o json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := f.checkOutput(); err != nil {
				return err
			}
			verify, err := v.verifier()
			if err != nil {
				return err
			}
			cr, err := f.credentials(c)
			if err != nil {
				return err
			}
			cl, err := f.newClient(c, cr)
			if err != nil {
				return err
			}
			if c.Flags().Changed("untardir") && !untar {
				return usageError{errors.New("--untardir applies to --untar: add --untar")}
			}
			ref, err := cl.ParseChartRef(args, repo)
			if err != nil {
				return usageError{err}
			}
			ctx, stop := interruptible(c)
			defer stop()
			res, err := cl.Pull(ctx, ref, client.PullOptions{Version: version, DestDir: dest, Verify: verify, RequireProv: prov, Untar: untar, UntarDir: untarTo})
			if err != nil {
				return clientError(err)
			}
			status := cl.RegistryStatus(ctx, ref, res.Name, res.Version)
			out := c.OutOrStdout()
			if f.output == "json" {
				return writeJSONResult(out, struct {
					*client.PullResult
					Registry *client.RegistryStatus `json:"registry,omitempty"`
				}{res, status})
			}
			defer printRegistryStatus(out, status)
			fmt.Fprintf(out, "Pulled: %s\n", termsafe.Text(res.Source))
			if res.ManifestDigest != "" {
				fmt.Fprintf(out, "Digest: %s\n", termsafe.Text(res.ManifestDigest))
			}
			fmt.Fprintf(out, "Chart digest: %s\n", res.Digest)
			if res.Dir != "" {
				fmt.Fprintf(out, "Expanded: %s\n", termsafe.Text(res.Dir))
			} else {
				fmt.Fprintf(out, "Saved: %s\n", termsafe.Text(res.Path))
			}
			if res.ProvPath != "" {
				fmt.Fprintf(out, "Saved: %s\n", termsafe.Text(res.ProvPath))
			}
			if res.Verified {
				fmt.Fprintf(out, "Signed by: %s\n", termsafe.Text(res.SignedBy))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&version, "version", "", "version or constraint (^1.2, ~1.4.0); default: the newest non-prerelease version")
	fl.StringVar(&repo, "repo", "", "chart repository URL, as in helm pull NAME --repo URL")
	fl.StringVarP(&dest, "destination", "d", ".", "directory to write the chart to (created if missing)")
	fl.BoolVar(&prov, "prov", false, "fail unless the chart has a provenance file (it is always saved when present)")
	fl.BoolVar(&untar, "untar", false, "write the chart's files into a directory named after the chart instead of the archive")
	fl.StringVar(&untarTo, "untardir", ".", "with --untar, the directory, relative to --destination, to write the chart's directory into")
	v.register(fl, "the chart")
	f.register(fl, true, true)
	return cmd
}

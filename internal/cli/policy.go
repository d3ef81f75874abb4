package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/cosign"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/provenance"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// chartroom trust and chartroom policy: a namespace's trusted keys and its signature and
// release policies, set directly in the data directory's database (as chartroom namespace
// does), also while chartroom serve runs: the server reads them at every publish.

const policyHelp = `
Every chart version records the status of its signatures: its .prov (uploaded with the
chart, pushed as helm push's provenance layer, or attached after it) and its cosign
signatures (a sha256-<digest>.sig tag, or a sigstore bundle referrer), each unsigned, valid
(by the trusted key named by its fingerprint) or invalid (with the reason), checked when the
signature arrives against the keys the namespace trusts then.`

func newTrustCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "trust",
		Short: "Add, list or remove the keys a namespace trusts to sign its charts (.prov and cosign)",
		Long: `Manage the keys NAMESPACE trusts, in the data directory of chartroom serve (the same
--data-dir and --config), also while it runs: OpenPGP public keys for .prov files and cosign
public keys for cosign signatures.` + policyHelp + `

A key added later counts for the signatures that arrive after it: upload the same .prov again
(POST /api/<namespace>/prov), or sign again with cosign. A key removed no longer counts: the
signatures it made become invalid at once (and in a signed-only namespace, the versions left
without a valid signature are quarantined).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("trust needs a subcommand: add, list or remove (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newTrustAddCmd(), newTrustListCmd(), newTrustRemoveCmd())
	return c
}

func newTrustAddCmd() *cobra.Command {
	var keyring, cosignKey string
	c := &cobra.Command{
		Use:   "add NAMESPACE (--gpg-keyring FILE | --cosign-key FILE)",
		Short: "Trust the public keys of an OpenPGP keyring, or a cosign public key, in a namespace",
		Long: `Trust, in NAMESPACE ("/" for the root namespace), every public key of an OpenPGP keyring
(--gpg-keyring: gpg --export, binary or --armor; only public keys are stored) to sign .prov
files, or a cosign public key (--cosign-key: cosign.pub, from cosign generate-key-pair or
chartroom keygen) to sign cosign signatures.` + exitCodesHelp,
		Example: `  chartroom trust add team/charts --data-dir /var/lib/chartroom --gpg-keyring release-team.gpg
  chartroom trust add team/charts --data-dir /var/lib/chartroom --cosign-key cosign.pub`,
		Args: oneArg("the namespace, e.g. team/charts"),
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		if (keyring == "") == (cosignKey == "") {
			return usageError{errors.New("give exactly one of --gpg-keyring FILE and --cosign-key FILE")}
		}
		var keys []meta.TrustedKey
		if keyring != "" {
			keys, err = gpgKeys(ns, keyring)
		} else {
			keys, err = cosignKeys(ns, cosignKey)
		}
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		added, err := db.AddTrustedKeys(ctx, keys, cliAudit("trust.add", ns, keys[0].Kind))
		if err != nil {
			return err
		}
		if output != "json" {
			fmt.Fprintf(cmd.OutOrStdout(), "%d key(s) added, %d already trusted\n", added, len(keys)-added)
		}
		return showTrust(ctx, cmd.OutOrStdout(), db, ns, output)
	}, func(f *pflag.FlagSet) {
		f.StringVar(&keyring, "gpg-keyring", "", "an OpenPGP keyring whose public keys sign .prov files (gpg --export [--armor])")
		f.StringVar(&cosignKey, "cosign-key", "", "a cosign public key (cosign.pub) that signs cosign signatures")
	})
	c.Flags().SortFlags = false
	return c
}

// gpgKeys reads the public keys of an OpenPGP keyring file, one per primary key.
func gpgKeys(ns, path string) ([]meta.TrustedKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--gpg-keyring: %w", err)
	}
	defer f.Close()
	list, err := provenance.LoadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("--gpg-keyring %s: %w", path, err)
	}
	var keys []meta.TrustedKey
	for _, e := range list {
		var b bytes.Buffer
		if err := e.Serialize(&b); err != nil { // public parts only
			return nil, fmt.Errorf("--gpg-keyring %s: key %s: %w", path, provenance.Fingerprint(e), err)
		}
		keys = append(keys, meta.TrustedKey{Namespace: ns, Kind: meta.KeyGPG, Fingerprint: provenance.Fingerprint(e),
			Name: provenance.Identity(e), Data: b.Bytes()})
	}
	return keys, nil
}

// cosignKeys reads a cosign public key file.
func cosignKeys(ns, path string) ([]meta.TrustedKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cosign-key: %w", err)
	}
	k, err := cosign.ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("--cosign-key %s: %w (give the public key, cosign.pub)", path, err)
	}
	return []meta.TrustedKey{{Namespace: ns, Kind: meta.KeyCosign, Fingerprint: k.ID(), Data: k.PEM()}}, nil
}

func newTrustListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list NAMESPACE",
		Short: "List the keys a namespace trusts",
		Long:  `List the keys NAMESPACE ("/" for the root namespace) trusts, read-only.` + exitCodesHelp,
	}
	readNamespaceCmd(c, showTrust)
	return c
}

func newTrustRemoveCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "remove NAMESPACE FINGERPRINT",
		Short: "Stop trusting a key in a namespace",
		Long: `Stop trusting, in NAMESPACE, the key of FINGERPRINT (as trust list shows it). The signatures
it made are invalid from now on; in a signed-only namespace the versions left without a valid
signature are quarantined.` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("trust remove takes the namespace and the key's fingerprint (chartroom trust list NAMESPACE shows them), got %d arguments", len(args))}
			}
			return nil
		},
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		k, err := db.RemoveTrustedKey(ctx, ns, args[1], cliAudit("trust.remove", ns, args[1]))
		if errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("namespace %s trusts no key %s: chartroom trust list %s shows the keys it trusts", args[0], args[1], args[0])
		}
		if err != nil {
			return err
		}
		if output != "json" {
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s key %s\n", k.Kind, k.Fingerprint)
		}
		return showTrust(ctx, cmd.OutOrStdout(), db, ns, output)
	}, nil)
	return c
}

// trustedKey is a key as trust list prints it with -o json.
type trustedKey struct {
	Kind        string `json:"kind"`
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name,omitempty"`
	Added       string `json:"added"`
}

// showTrust prints the keys namespace ns trusts.
func showTrust(ctx context.Context, w io.Writer, db *meta.DB, ns, output string) error {
	rows, err := db.TrustedKeys(ctx, ns, "")
	if err != nil {
		return err
	}
	keys := []trustedKey{}
	for _, k := range rows {
		keys = append(keys, trustedKey{Kind: k.Kind, Fingerprint: k.Fingerprint, Name: k.Name, Added: k.Created.Format("2006-01-02T15:04:05Z")})
	}
	if output == "json" {
		return writeJSONResult(w, map[string]any{"namespace": ns, "keys": keys})
	}
	if len(keys) == 0 {
		fmt.Fprintf(w, "%s trusts no key (chartroom trust add %s --gpg-keyring FILE | --cosign-key FILE)\n", namespaceArgOf(ns), namespaceArgOf(ns))
		return nil
	}
	for _, k := range keys {
		fmt.Fprintf(w, "%-7s %s", k.Kind, k.Fingerprint)
		if k.Name != "" {
			fmt.Fprintf(w, "  %s", termsafe.Text(k.Name))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func newPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Set or show a namespace's signature and release policies",
		Long: `Set or show the policies of NAMESPACE in the data directory of chartroom serve (the same
--data-dir and --config), also while it runs: the server reads them at every publish.

signed-only: a version without a valid signature by a key the namespace trusts (chartroom
trust) is quarantined: absent from index.yaml, tag lists and pulls for readers (they get
what they get for a version that does not exist; callers who may publish to the namespace
still see it, to sign it) until a valid signature arrives. An invalid .prov is refused.

semver-discipline: on every publish, over either protocol, the registry runs chartroom
check's analysis against the highest version published below the new one: enforce refuses a
version whose bump is smaller than its changes require (409, naming the changes and the
smallest acceptable version); warn publishes it and records the finding on the version;
off (the default) checks nothing.` + policyHelp,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("policy needs a subcommand: set or show (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newPolicySetCmd(), newPolicyShowCmd())
	return c
}

func newPolicySetCmd() *cobra.Command {
	var (
		signedOnly bool
		discipline string
	)
	c := &cobra.Command{
		Use:   "set NAMESPACE [--signed-only[=false]] [--semver-discipline enforce|warn|off]",
		Short: "Set a namespace's signed-only and semver-discipline policies",
		Long: `Set the policies of NAMESPACE ("/" for the root namespace); a policy not given keeps its
value. Turning signed-only on quarantines at once the versions without a valid signature;
turning it off releases them. See chartroom policy --help.` + exitCodesHelp,
		Example: `  chartroom policy set team/charts --data-dir /var/lib/chartroom --signed-only
  chartroom policy set team/charts --data-dir /var/lib/chartroom --semver-discipline enforce
  chartroom policy set team/charts --data-dir /var/lib/chartroom --signed-only=false --semver-discipline off`,
		Args: oneArg("the namespace, e.g. team/charts"),
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		fl := cmd.Flags()
		var signed *bool
		var disc *string
		if fl.Changed("signed-only") {
			signed = &signedOnly
		}
		if fl.Changed("semver-discipline") {
			switch discipline {
			case meta.DisciplineOff, meta.DisciplineWarn, meta.DisciplineEnforce:
			default:
				return usageError{fmt.Errorf("--semver-discipline %q: use enforce, warn or off", discipline)}
			}
			disc = &discipline
		}
		if signed == nil && disc == nil {
			return usageError{fmt.Errorf("nothing to set: give --signed-only[=false] or --semver-discipline enforce|warn|off (see %s --help)", cmd.CommandPath())}
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		if err := db.SetNamespacePolicy(ctx, ns, signed, disc, cliAudit("policy.set", ns, policyDetail(signed, disc))); err != nil {
			return err
		}
		return showPolicy(ctx, cmd.OutOrStdout(), db, ns, output)
	}, func(f *pflag.FlagSet) {
		f.BoolVar(&signedOnly, "signed-only", false, "quarantine the versions without a valid signature by a trusted key (--signed-only=false: off)")
		f.StringVar(&discipline, "semver-discipline", "", "check each publish's bump against its changes: enforce, warn or off")
	})
	c.Flags().SortFlags = false
	return c
}

func policyDetail(signed *bool, disc *string) string {
	s := ""
	if signed != nil {
		s = fmt.Sprintf("signed-only=%t", *signed)
	}
	if disc != nil {
		if s != "" {
			s += " "
		}
		s += "semver-discipline=" + *disc
	}
	return s
}

func newPolicyShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "show NAMESPACE",
		Short: "Show a namespace's policies and the keys it trusts",
		Long:  `Show the policies of NAMESPACE ("/" for the root namespace) and the keys it trusts, read-only.` + exitCodesHelp,
	}
	readNamespaceCmd(c, showPolicy)
	return c
}

// policyResult is what policy set and show print with -o json.
type policyResult struct {
	Namespace        string       `json:"namespace"`
	SignedOnly       bool         `json:"signedOnly"`
	SemverDiscipline string       `json:"semverDiscipline"`
	Keys             []trustedKey `json:"keys"`
}

// showPolicy prints namespace ns's policies and trusted keys.
func showPolicy(ctx context.Context, w io.Writer, db *meta.DB, ns, output string) error {
	p, err := db.GetNamespacePolicy(ctx, ns)
	if err != nil {
		return err
	}
	if output == "json" {
		rows, err := db.TrustedKeys(ctx, ns, "")
		if err != nil {
			return err
		}
		res := policyResult{Namespace: ns, SignedOnly: p.SignedOnly, SemverDiscipline: p.SemverDiscipline, Keys: []trustedKey{}}
		for _, k := range rows {
			res.Keys = append(res.Keys, trustedKey{Kind: k.Kind, Fingerprint: k.Fingerprint, Name: k.Name, Added: k.Created.Format("2006-01-02T15:04:05Z")})
		}
		return writeJSONResult(w, res)
	}
	fmt.Fprintf(w, "namespace            %s\n", namespaceArgOf(ns))
	signed := "off"
	if p.SignedOnly {
		signed = "on (versions without a valid signature by a trusted key are quarantined)"
	}
	fmt.Fprintf(w, "signed-only          %s\n", signed)
	fmt.Fprintf(w, "semver-discipline    %s\n", p.SemverDiscipline)
	fmt.Fprintln(w, "trusted keys")
	return showTrust(ctx, w, db, ns, "text")
}

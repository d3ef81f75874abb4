package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/artifacthub"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newNamespaceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "namespace",
		Short: "Show or set a namespace's settings (anonymous read, its Artifact Hub listing) in a data directory",
		Long: `Show or set the settings of a namespace of the server that uses a data directory, working
directly on its database (the same --data-dir and --config as chartroom serve), also while
chartroom serve runs: the server reads the settings at each request that needs them
(anonymous read: within a second).

A namespace may be read without credentials, or not, whatever serve --anonymous-read says
for the others (--anonymous-read, --anonymous-read=false; =default follows serve again).

Retention rules (--keep-prereleases N, --delete-prereleases-older-than D) are applied to
the namespace's prerelease chart versions (1.2.0-rc.1, …) by garbage collection (chartroom gc,
serve --gc-interval): a version either rule no longer keeps is deleted, leaving a tombstone.

A namespace's other setting is its Artifact Hub repository metadata (artifacthub-repo.yml:
repository ID, owners, packages to ignore), which lets the namespace be listed on
Artifact Hub as a verified publisher, and claimed by its owners, over either protocol. The
server serves it as /<namespace>/artifacthub-repo.yml next to the namespace's index.yaml, and
as the tag artifacthub.io of each chart repository of the namespace
(oci://HOST/<namespace>/<chart>:artifacthub.io), the artifact Artifact Hub pulls.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("namespace needs a subcommand: set or show (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newNamespaceSetCmd(), newNamespaceShowCmd())
	return c
}

func newNamespaceSetCmd() *cobra.Command {
	var (
		repoID, file, anonymous string
		keepPre, preAge         string
		owners                  []string
		remove                  bool
	)
	c := &cobra.Command{
		Use:   "set NAMESPACE",
		Short: "Set a namespace's anonymous read, retention of prereleases or Artifact Hub repository metadata",
		Long: `Set whether NAMESPACE ("/" for the root namespace) may be read without credentials
(--anonymous-read[=true|false|default]; default follows serve --anonymous-read again), or
its Artifact Hub repository metadata:
from flags, --artifacthub-repo-id and --owner (the file is written from them; flags not
given keep what was set), or from a whole artifacthub-repo.yml (--artifacthub-repo-file,
stored and served as it is, e.g. with ignore rules). The file is checked as Artifact Hub
reads it: only repositoryID (a UUID), owners (name, email) and ignore (name, version).

Get the repository ID from Artifact Hub after adding the repository there: the classic
repository's URL is https://HOST/<namespace>; a chart over OCI is its own Artifact Hub
repository, oci://HOST/<namespace>/<chart>.` + exitCodesHelp,
		Example: `  chartroom namespace set team/charts --data-dir /var/lib/chartroom \
    --artifacthub-repo-id 5a4b9f1c-7c3d-4e2f-9a1b-0c2d3e4f5a6b --owner 'Jane Doe <jane@example.com>'
  chartroom namespace set team/charts --config /etc/chartroom.yaml --artifacthub-repo-file artifacthub-repo.yml
  chartroom namespace set team/charts --data-dir /var/lib/chartroom --no-artifacthub
  chartroom namespace set public/charts --data-dir /var/lib/chartroom --anonymous-read
  chartroom namespace set team/charts --data-dir /var/lib/chartroom --keep-prereleases 5 --delete-prereleases-older-than 30d`,
		Args: oneArg("the namespace, e.g. team/charts"),
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		fl := cmd.Flags()
		fromFlags := fl.Changed("artifacthub-repo-id") || fl.Changed("owner")
		var anon *bool
		setAnon := fl.Changed("anonymous-read")
		if setAnon {
			if anon, err = parseAnonymousRead(anonymous); err != nil {
				return err
			}
		}
		setHub := remove || fromFlags || fl.Changed("artifacthub-repo-file")
		setRetention := fl.Changed("keep-prereleases") || fl.Changed("delete-prereleases-older-than")
		switch {
		case remove && (fromFlags || fl.Changed("artifacthub-repo-file")):
			return usageError{errors.New("--no-artifacthub removes the metadata: give it alone")}
		case fromFlags && fl.Changed("artifacthub-repo-file"):
			return usageError{errors.New("--artifacthub-repo-file sets the whole file: give it without --artifacthub-repo-id and --owner")}
		case !setHub && !setAnon && !setRetention:
			return usageError{fmt.Errorf("nothing to set: give --anonymous-read, --keep-prereleases, --delete-prereleases-older-than, --artifacthub-repo-id and --owner, --artifacthub-repo-file, or --no-artifacthub (see %s --help)", cmd.CommandPath())}
		}
		var keep *int
		var age *time.Duration
		if fl.Changed("keep-prereleases") {
			if keep, err = parseKeepPrereleases(keepPre); err != nil {
				return err
			}
		}
		if fl.Changed("delete-prereleases-older-than") {
			if age, err = parsePrereleaseAge(preAge); err != nil {
				return err
			}
		}
		var fileData []byte
		if fl.Changed("artifacthub-repo-file") {
			if fileData, err = readMetadataFile(file); err != nil {
				return err
			}
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		if err := db.Migrate(ctx); err != nil {
			return fmt.Errorf("namespace set %s: %w", args[0], err)
		}
		if setHub {
			s := meta.NamespaceSettings{Namespace: ns}
			switch {
			case remove:
			case fileData != nil:
				s.ArtifactHubRepo = fileData
			default:
				if s.ArtifactHubRepo, err = metadataFromFlags(ctx, db, ns, fl.Changed("artifacthub-repo-id"), repoID, fl.Changed("owner"), owners); err != nil {
					return err
				}
			}
			if err := db.SetNamespaceSettings(ctx, s); err != nil {
				return err
			}
		}
		if setRetention {
			if err := setNamespaceRetention(ctx, db, ns, fl.Changed("keep-prereleases"), keep, fl.Changed("delete-prereleases-older-than"), age); err != nil {
				return err
			}
		}
		if setAnon {
			if err := cliManager(db).SetAnonymousRead(ctx, ns, anon); err != nil {
				return err
			}
		}
		return showNamespace(ctx, cmd.OutOrStdout(), db, ns, output)
	}, func(f *pflag.FlagSet) {
		f.StringVar(&anonymous, "anonymous-read", "", "let requests without credentials read the namespace: true (the flag alone), false, or default (as serve --anonymous-read says)")
		f.Lookup("anonymous-read").NoOptDefVal = "true"
		f.StringVar(&keepPre, "keep-prereleases", "", "retention: keep the newest N prerelease versions of each chart (by publication), delete older ones at each garbage collection; off removes the rule")
		f.StringVar(&preAge, "delete-prereleases-older-than", "", "retention: delete prerelease versions published longer ago than this (e.g. 30d, 72h) at each garbage collection; off removes the rule")
		f.StringVar(&repoID, "artifacthub-repo-id", "", "the repository ID Artifact Hub gave the repository (a UUID); \"\" removes it")
		f.StringArrayVar(&owners, "owner", nil, "an owner who may claim the repository on Artifact Hub, 'Name <email>' or an e-mail; repeatable; replaces the owners set before (--owner '' removes them)")
		f.StringVar(&file, "artifacthub-repo-file", "", "an artifacthub-repo.yml to store and serve as it is (- for standard input)")
		f.BoolVar(&remove, "no-artifacthub", false, "remove the namespace's Artifact Hub metadata: the file and the artifacthub.io tags are no longer served")
	})
	c.Flags().SortFlags = false
	return c
}

func newNamespaceShowCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "show NAMESPACE",
		Short: "Show a namespace's settings and chart repositories",
		Long: `Show the settings of NAMESPACE ("/" for the root namespace) in the data directory of
chartroom serve, read-only (safe while the server runs): its Artifact Hub repository metadata,
where the server serves it, and the namespace's chart repositories.` + exitCodesHelp,
		Example: `  chartroom namespace show team/charts --data-dir /var/lib/chartroom
  chartroom namespace show team/charts --config /etc/chartroom.yaml -o json`,
	}
	readNamespaceCmd(c, showNamespace)
	c.Flags().SortFlags = false
	return c
}

// readNamespaceCmd makes c (its Use, Short, Long and Example set) a read-only command on one
// NAMESPACE of serve's database (safe while the server runs): it takes -o text|json and the
// data-directory flags, and runs show on the database opened read-only.
func readNamespaceCmd(c *cobra.Command, show func(ctx context.Context, w io.Writer, db *meta.DB, ns, output string) error) {
	c.Args = oneArg("the namespace, e.g. team/charts")
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := namespaceArg(args[0])
		if err != nil {
			return err
		}
		db, err := open()
		if err != nil {
			return err
		}
		return show(cmd.Context(), cmd.OutOrStdout(), db, ns, output)
	}, nil)
}

// namespaceArg reads a NAMESPACE argument: "/" is the root namespace; any other must be a
// namespace charts can be published to.
func namespaceArg(arg string) (string, error) {
	if arg == "/" {
		return "", nil
	}
	if err := registry.ValidateName(arg); err != nil {
		return "", usageError{fmt.Errorf("namespace %q: %w", arg, err)}
	}
	if err := registry.CheckChartNamespace(arg); err != nil {
		return "", usageError{err}
	}
	return arg, nil
}

// dataDirDB opens the database of the data directory the command's flags name (never creating
// one), migrated to this release's schema unless readOnly: what the admin commands that work
// on serve's data directory, also while it runs, start with.
//
// With a configuration whose database is PostgreSQL (database: postgres://… in --config, or
// CHARTROOM_DATABASE), it is that database, migrated as serve migrates it: the commands then
// work for every replica at once.
func dataDirDB(cmd *cobra.Command, dd *dataDirFlags, readOnly bool) (*meta.DB, error) {
	if err := dd.resolveConfig(cmd); err != nil {
		return nil, err
	}
	if url := dd.serve.cfg.Database; url != "" {
		db, err := meta.OpenPostgres(cmd.Context(), url)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
		}
		return db, nil
	}
	dir := dd.serve.cfg.DataDir
	db, err := openDataDirDB(cmd.Context(), dir, readOnly)
	if err != nil {
		return nil, err
	}
	if !readOnly {
		if err := db.Migrate(cmd.Context()); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
		}
	}
	return db, nil
}

// openDataDirDB opens the database of the data directory dir as it is (never creating one).
func openDataDirDB(ctx context.Context, dir string, readOnly bool) (*meta.DB, error) {
	db, err := meta.OpenSQLiteExisting(ctx, filepath.Join(dir, server.DatabaseFile), readOnly)
	if errors.Is(err, meta.ErrNoDatabase) {
		return nil, fmt.Errorf("%w: is %s the --data-dir chartroom serve uses? (it creates the database at its first start)", err, dir)
	}
	if errors.Is(err, meta.ErrCorrupt) {
		return nil, fmt.Errorf("%w: run chartroom fsck --data-dir %s", err, dir)
	}
	return db, err
}

// readMetadataFile reads and checks an artifacthub-repo.yml ("-": standard input).
func readMetadataFile(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--artifacthub-repo-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, artifacthub.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("--artifacthub-repo-file %s: %w", path, err)
	}
	if _, err := artifacthub.Parse(data); err != nil {
		return nil, fmt.Errorf("--artifacthub-repo-file %s: %w", path, err)
	}
	return data, nil
}

// metadataFromFlags is the namespace's metadata file with the repository ID and owners
// given (setID, setOwners) replaced, the rest kept from what is set.
func metadataFromFlags(ctx context.Context, db *meta.DB, ns string, setID bool, id string, setOwners bool, owners []string) ([]byte, error) {
	md := &artifacthub.Metadata{}
	if cur, err := db.GetNamespaceSettings(ctx, ns); err == nil && cur.ArtifactHubRepo != nil {
		if parsed, err := artifacthub.Parse(cur.ArtifactHubRepo); err == nil {
			md = parsed
		}
	} else if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	if setID {
		md.RepositoryID = strings.TrimSpace(id)
	}
	if setOwners {
		md.Owners = nil
		for _, o := range owners {
			if strings.TrimSpace(o) == "" {
				continue
			}
			owner, err := artifacthub.ParseOwner(o)
			if err != nil {
				return nil, usageError{fmt.Errorf("--owner: %w", err)}
			}
			md.Owners = append(md.Owners, owner)
		}
	}
	if md.RepositoryID == "" && len(md.Owners) == 0 && len(md.Ignore) == 0 {
		return nil, usageError{errors.New("the metadata would be empty: give --artifacthub-repo-id or --owner, or remove it with --no-artifacthub")}
	}
	b, err := md.Marshal()
	if err != nil {
		return nil, usageError{err}
	}
	return b, nil
}

// namespaceResult is what namespace show (and set) print with -o json.
type namespaceResult struct {
	Namespace string `json:"namespace"`
	// ArtifactHubRepo is the metadata file as served; null when none is set.
	ArtifactHubRepo *string    `json:"artifacthubRepo"`
	Updated         *time.Time `json:"updated,omitempty"`
	// ServedAt are the paths the file is served at: the classic repository's, and each
	// chart repository's OCI reference (without the host).
	ServedAt          []string `json:"servedAt"`
	ChartRepositories []string `json:"chartRepositories"`
	// AnonymousRead is the namespace's own setting; null: serve --anonymous-read decides.
	AnonymousRead *bool `json:"anonymousRead"`
	// Retention are the rules garbage collection applies to prerelease versions.
	Retention retentionResult `json:"retention"`
	// Roles are the roles users and tokens have on the namespace (by grants on it, on a
	// pattern covering it, or on *).
	Roles []namespaceRole `json:"roles"`
}

// namespaceRole is a role on a namespace, and the grant it comes from.
type namespaceRole struct {
	User      string `json:"user,omitempty"`
	Token     string `json:"token,omitempty"`
	Role      string `json:"role"`
	GrantedOn string `json:"grantedOn"`
}

// showNamespace prints namespace ns's settings and chart repositories.
func showNamespace(ctx context.Context, w io.Writer, db *meta.DB, ns, output string) error {
	res := namespaceResult{Namespace: ns, ServedAt: []string{}, ChartRepositories: []string{}, Roles: []namespaceRole{}}
	repos, err := db.ChartRepositories(ctx, ns)
	if err != nil {
		return err
	}
	grants, err := db.ListGrants(ctx)
	if err != nil && !strings.Contains(err.Error(), "no such table") { // a database before roles, read as it is
		return err
	}
	for _, g := range grants {
		if auth.Covers(g.Namespace, ns) {
			res.Roles = append(res.Roles, namespaceRole{User: g.User, Token: g.TokenID, Role: g.Role, GrantedOn: auth.PatternString(g.Namespace)})
		}
	}
	res.ChartRepositories = append(res.ChartRepositories, repos...)
	s, err := db.GetNamespaceSettings(ctx, ns)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if err == nil {
		res.AnonymousRead = s.AnonymousRead
		res.Retention.KeepPrereleases = s.Retention.KeepPrereleases
		if a := s.Retention.DeletePrereleasesOlderThan; a != nil {
			age := registry.FormatAge(*a)
			res.Retention.DeletePrereleasesOlderThan = &age
		}
	}
	if err == nil && s.ArtifactHubRepo != nil {
		file, updated := string(s.ArtifactHubRepo), s.Updated
		res.ArtifactHubRepo, res.Updated = &file, &updated
		res.ServedAt = append(res.ServedAt, "/"+strings.TrimPrefix(ns+"/", "/")+artifacthub.FileName)
		for _, r := range repos {
			res.ServedAt = append(res.ServedAt, r+":"+artifacthub.Tag)
		}
	}
	if output == "json" {
		return writeJSONResult(w, res)
	}
	label := ns
	if ns == "" {
		label = "/ (the root namespace)"
	}
	fmt.Fprintf(w, "namespace            %s\n", label)
	fmt.Fprintf(w, "chart repositories   %d", len(repos))
	if len(repos) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(repos, ", "))
	}
	fmt.Fprintln(w)
	switch {
	case res.AnonymousRead == nil:
		fmt.Fprintln(w, "anonymous read       as serve --anonymous-read says")
	case *res.AnonymousRead:
		fmt.Fprintln(w, "anonymous read       yes (without credentials)")
	default:
		fmt.Fprintln(w, "anonymous read       no (whatever serve --anonymous-read says)")
	}
	fmt.Fprintf(w, "retention            %s\n", res.Retention.describe())
	fmt.Fprint(w, "roles                ")
	if len(res.Roles) == 0 {
		fmt.Fprint(w, "none (chartroom grant USER "+namespaceArgOf(ns)+" ROLE)")
	}
	for i, r := range res.Roles {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		who := "user " + termsafe.Text(r.User)
		if r.Token != "" {
			who = "token " + r.Token
		}
		fmt.Fprintf(w, "%s %s", who, r.Role)
		if r.GrantedOn != namespaceArgOf(ns) {
			fmt.Fprintf(w, " (on %s)", r.GrantedOn)
		}
	}
	fmt.Fprintln(w)
	if res.ArtifactHubRepo == nil {
		fmt.Fprintf(w, "artifacthub-repo.yml not set (chartroom namespace set %s --artifacthub-repo-id ID --owner 'Name <email>')\n", namespaceArgOf(ns))
		return nil
	}
	fmt.Fprintf(w, "artifacthub-repo.yml set %s, served at %s", res.Updated.Format(time.RFC3339), res.ServedAt[0])
	if len(repos) > 0 {
		fmt.Fprintf(w, " and as tag %s of each chart repository", artifacthub.Tag)
	} else {
		fmt.Fprintf(w, " (and as tag %s of each chart repository, once the namespace has one)", artifacthub.Tag)
	}
	fmt.Fprintf(w, "\n\n%s", *res.ArtifactHubRepo)
	if !strings.HasSuffix(*res.ArtifactHubRepo, "\n") {
		fmt.Fprintln(w)
	}
	return nil
}

// namespaceArgOf is ns as namespace set takes it.
func namespaceArgOf(ns string) string {
	if ns == "" {
		return "/"
	}
	return ns
}

// parseAnonymousRead reads --anonymous-read: true, false, or default (nil).
func parseAnonymousRead(v string) (*bool, error) {
	switch v {
	case "true", "false":
		b := v == "true"
		return &b, nil
	case "default":
		return nil, nil
	}
	return nil, usageError{fmt.Errorf("--anonymous-read=%s: expected true (or the flag alone), false, or default (as serve --anonymous-read says)", v)}
}

// retentionResult is a namespace's retention rules as namespace show prints them.
type retentionResult struct {
	// KeepPrereleases is N of --keep-prereleases; null: no such rule.
	KeepPrereleases *int `json:"keepPrereleases"`
	// DeletePrereleasesOlderThan is D of --delete-prereleases-older-than (30d, 72h0m0s);
	// null: no such rule.
	DeletePrereleasesOlderThan *string `json:"deletePrereleasesOlderThan"`
}

func (r retentionResult) describe() string {
	var parts []string
	if r.KeepPrereleases != nil {
		parts = append(parts, fmt.Sprintf("keep the newest %d prereleases of each chart", *r.KeepPrereleases))
	}
	if r.DeletePrereleasesOlderThan != nil {
		parts = append(parts, "delete prereleases older than "+*r.DeletePrereleasesOlderThan)
	}
	if len(parts) == 0 {
		return "none (every version is kept)"
	}
	return strings.Join(parts, "; ") + " (at each garbage collection)"
}

// parseKeepPrereleases reads --keep-prereleases: a count ≥ 0, or off (nil).
func parseKeepPrereleases(v string) (*int, error) {
	if v == "off" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, usageError{fmt.Errorf("--keep-prereleases %q: expected a number of versions (0 or more), or off to remove the rule", v)}
	}
	return &n, nil
}

// parsePrereleaseAge reads --delete-prereleases-older-than: a duration above 0 (30d, 72h), or
// off (nil).
func parsePrereleaseAge(v string) (*time.Duration, error) {
	if v == "off" {
		return nil, nil
	}
	d, err := parseDays(v)
	if err != nil || d <= 0 {
		return nil, usageError{fmt.Errorf("--delete-prereleases-older-than %q: expected a duration above 0, such as 30d or 72h, or off to remove the rule", v)}
	}
	return &d, nil
}

// setNamespaceRetention changes the retention rules given (setKeep, setAge) of namespace ns,
// keeping the other, audited as the admin commands are.
func setNamespaceRetention(ctx context.Context, db *meta.DB, ns string, setKeep bool, keep *int, setAge bool, age *time.Duration) error {
	var r meta.Retention
	if cur, err := db.GetNamespaceSettings(ctx, ns); err == nil {
		r = cur.Retention
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	if setKeep {
		r.KeepPrereleases = keep
	}
	if setAge {
		r.DeletePrereleasesOlderThan = age
	}
	detail := retentionResult{KeepPrereleases: r.KeepPrereleases}
	if r.DeletePrereleasesOlderThan != nil {
		a := registry.FormatAge(*r.DeletePrereleasesOlderThan)
		detail.DeletePrereleasesOlderThan = &a
	}
	return db.SetNamespaceRetention(ctx, ns, r, cliAudit("namespace.retention", ns, detail.describe()))
}

package registry

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

// Grammar of OCI Distribution Spec v1.1 ("Pulling manifests" / "Pushing manifests").
var (
	nameComponent = `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*`
	namePattern   = regexp.MustCompile(`^` + nameComponent + `(?:/` + nameComponent + `)*$`)
	tagPattern    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// maxNameLength bounds a repository name (as the CNCF distribution registry does).
const maxNameLength = 255

// ValidateName checks a repository name against the OCI grammar: lower-case components
// separated by "/", no empty, "." or ".." components.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrNameInvalid)
	case len(name) > maxNameLength:
		return fmt.Errorf("%w: %d characters, at most %d are allowed", ErrNameInvalid, len(name), maxNameLength)
	case !namePattern.MatchString(name):
		return fmt.Errorf("%w: %q: use lower-case letters, digits and separators (. _ __ -) in components joined by /, e.g. team/charts/myapp", ErrNameInvalid, name)
	}
	return nil
}

// ValidateTag checks a tag against the OCI grammar.
func ValidateTag(tag string) error {
	if !tagPattern.MatchString(tag) {
		return fmt.Errorf("%w: %q: a tag is 1-128 characters of letters, digits, _ . -, not starting with . or -", ErrTagInvalid, tag)
	}
	return nil
}

// ParseDigest parses and checks a digest: well-formed, and sha256 or sha512.
func ParseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	if err := blob.Validate(d); err != nil {
		return "", fmt.Errorf("%w: %q: use sha256:<64 hex> or sha512:<128 hex>", ErrDigestInvalid, s)
	}
	return d, nil
}

// IsDigest reports whether a manifest reference is a digest rather than a tag.
func IsDigest(reference string) bool { return strings.Contains(reference, ":") }

// SplitRepository splits a repository name into its namespace and chart name:
// team/charts/myapp → (team/charts, myapp); myapp → ("", myapp).
func SplitRepository(repo string) (namespace, name string) {
	i := strings.LastIndexByte(repo, '/')
	if i < 0 {
		return "", repo
	}
	return repo[:i], repo[i+1:]
}

// reservedNamespaces are the first components a chart namespace cannot have, with the reason:
// the server routes those paths elsewhere, so the namespace's classic chart repository
// (/<namespace>/index.yaml, /<namespace>/charts/…) could never be served. Only the OCI API
// claims a prefix (/v2/…): /healthz, /readyz and /metrics are exact paths, and /api/… and
// /<namespace>/… are told apart from the right, so namespaces named api, healthz, readyz or
// metrics are served.
var reservedNamespaces = map[string]string{
	"v2": "every path under /v2/ belongs to the OCI Distribution API",
}

// CheckChartNamespace refuses to publish a chart into a namespace whose classic chart
// repository could not be served (see reservedNamespaces). Repositories there keep working
// over OCI; only new chart versions are refused, over both protocols.
func CheckChartNamespace(ns string) error {
	first, _, _ := strings.Cut(ns, "/")
	why, reserved := reservedNamespaces[first]
	if ns == "" || !reserved {
		return nil
	}
	names := make([]string, 0, len(reservedNamespaces))
	for n := range reservedNamespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("%w: namespace %q: chart namespaces whose first part is %s are reserved (%s), so its chart repository /%s/index.yaml could not be served; publish under another namespace, e.g. charts/%s",
		ErrNameInvalid, ns, strings.Join(names, " or "), why, ns, ns)
}

// A repository pattern (serve --immutable-tags) is a repository name in which * stands for
// any run of characters, "/" included (prod/* covers prod/app and prod/team/app, not prod
// itself), and ? for one character other than "/". Nothing else is special.
var patternChars = regexp.MustCompile(`^[a-z0-9._/*?-]+$`)

// ValidateRepositoryPattern checks a repository pattern (see CompileRepositoryPattern).
func ValidateRepositoryPattern(p string) error {
	_, err := CompileRepositoryPattern(p)
	return err
}

// CompileRepositoryPattern turns a repository pattern into the regular expression that
// matches the names it covers: * is any run of characters including "/", ? one character
// other than "/", every other character itself.
func CompileRepositoryPattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, fmt.Errorf("empty repository pattern: expected a name such as prod/app, or prod/* for every repository under prod/")
	}
	if !patternChars.MatchString(p) {
		return nil, fmt.Errorf("repository pattern %q: use lower-case letters, digits, . _ - and /, with * for any characters (/ included) and ? for one character other than /, e.g. prod/*", p)
	}
	var b strings.Builder
	b.WriteString("^")
	for _, c := range p {
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

package registry

import (
	"fmt"
	"regexp"
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

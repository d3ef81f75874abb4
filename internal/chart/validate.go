package chart

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ErrInvalidMetadata is wrapped by every error about Chart.yaml content:
// [*FieldError] from [Metadata.Validate] and [*YAMLError] from [ParseMetadata].
var ErrInvalidMetadata = errors.New("invalid Chart.yaml")

// FieldError is one problem with one Chart.yaml field.
type FieldError struct {
	// Field is the Chart.yaml path, e.g. "version" or "dependencies[2].alias".
	Field string
	// Problem says what is wrong and what to do.
	Problem string
}

// Error renders "Chart.yaml: field: problem".
func (e *FieldError) Error() string {
	return "Chart.yaml: " + e.Field + ": " + e.Problem
}

// Unwrap lets errors.Is(err, ErrInvalidMetadata) match.
func (e *FieldError) Unwrap() error { return ErrInvalidMetadata }

var (
	// chartNameRE is `helm create`'s rule for chart names.
	chartNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	// aliasRE is Helm's rule for dependency aliases.
	aliasRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// Validate reports every problem found in md, as one error joining
// [*FieldError]s (each wraps [ErrInvalidMetadata]); nil when md is valid.
// It does not modify md (Helm's Validate also sanitizes: see [Metadata.Sanitize]).
//
// The rules are Helm v3's load-time rules (name, version, type, alias
// syntax, unique dependency names/aliases, no null entries) plus, stricter
// than Helm:
//   - apiVersion must be v1 or v2 (empty is read as v1, as Helm does);
//   - name must match `helm create`'s ^[a-zA-Z0-9._-]+$;
//   - version must be strict SemVer 2 (MAJOR.MINOR.PATCH, no leading "v"),
//     where Helm also accepts "v1.2" or "1.2";
//   - kubeVersion and dependency versions must be valid SemVer constraints
//     (Helm only fails on them at install or dependency-update time);
//   - dependency names are required and repositories must be a URL
//     (http, https, oci, file), "@repo", "alias:repo" or empty.
//
// Subcharts inside a chart are checked with Helm's looser version rule
// instead (see [LoadArchive]): they are never published on their own.
func (md *Metadata) Validate() error { return md.validate(true) }

func (md *Metadata) validate(strictVersion bool) error {
	if md == nil {
		return &FieldError{Field: "(document)", Problem: "Chart.yaml is empty: it needs at least apiVersion, name and version"}
	}
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}

	switch md.APIVersion {
	case "", APIVersionV1, APIVersionV2:
	default:
		add("apiVersion", "%q is not supported: use v2 (or v1 for Helm 2 charts)", md.APIVersion)
	}

	if err := checkChartName(md.Name); err != "" {
		add("name", "%s", err)
	}

	if md.Version == "" {
		add("version", "is required: set a SemVer 2 version such as 0.1.0")
	} else if strictVersion {
		if _, err := ParseVersion(md.Version); err != nil {
			add("version", "%v", err)
		}
	} else if _, err := semver.NewVersion(md.Version); err != nil {
		add("version", "%q is not a SemVer version: use MAJOR.MINOR.PATCH, e.g. 1.2.3", md.Version)
	}

	switch md.Type {
	case "", TypeApplication, TypeLibrary:
	default:
		add("type", "%q is not a chart type: use application or library", md.Type)
	}

	if md.KubeVersion != "" {
		if _, err := semver.NewConstraint(md.KubeVersion); err != nil {
			add("kubeVersion", "%q is not a SemVer constraint (e.g. \">=1.25.0-0\"): %v", md.KubeVersion, err)
		}
	}

	for i, m := range md.Maintainers {
		if m == nil {
			add(fmt.Sprintf("maintainers[%d]", i), "is empty: remove the entry or give it a name")
		}
	}

	seen := map[string]int{}
	for i, d := range md.Dependencies {
		field := fmt.Sprintf("dependencies[%d]", i)
		if d == nil {
			add(field, "is empty: remove the entry or give it name, version and repository")
			continue
		}
		if d.Name != "" {
			field = fmt.Sprintf("dependencies[%d] (%s)", i, d.Name)
		}
		if err := checkChartName(d.Name); err != "" {
			add(field+".name", "%s", err)
		}
		if d.Version != "" {
			if _, err := semver.NewConstraint(d.Version); err != nil {
				add(field+".version", "%q is not a version or SemVer range (e.g. 1.2.3 or ~1.2.0): %v", d.Version, err)
			}
		}
		if p := checkRepository(d.Repository); p != "" {
			add(field+".repository", "%s", p)
		}
		if d.Alias != "" && !aliasRE.MatchString(d.Alias) {
			add(field+".alias", "%q has disallowed characters: use letters, digits, '-' and '_'", d.Alias)
		}
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		if j, dup := seen[key]; dup && key != "" {
			add(field, "name or alias %q is already used by dependencies[%d]: give one of them a distinct alias", key, j)
		}
		seen[key] = i
	}
	return errors.Join(errs...)
}

// checkChartName returns "" for a valid chart name, else the problem.
func checkChartName(name string) string {
	switch {
	case name == "":
		return "is required"
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not allowed", name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Sprintf("%q must not contain path separators", name)
	case !chartNameRE.MatchString(name):
		return fmt.Sprintf("%q has disallowed characters: use letters, digits, '.', '-' and '_' (lower case recommended)", name)
	}
	return ""
}

// checkRepository returns "" for an acceptable dependency repository.
func checkRepository(repo string) string {
	switch {
	case repo == "":
		return ""
	case strings.HasPrefix(repo, "@") && len(repo) > 1,
		strings.HasPrefix(repo, "alias:") && len(repo) > len("alias:"):
		return ""
	}
	for _, scheme := range []string{"https://", "http://", "oci://", "file://"} {
		if strings.HasPrefix(repo, scheme) && len(repo) > len(scheme) {
			return ""
		}
	}
	return fmt.Sprintf("%q is not a repository: use an https://, oci:// or file:// URL, @name for a repository added with `helm repo add`, or leave it empty for a chart kept in charts/", repo)
}

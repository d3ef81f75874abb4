package chart

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/safeyaml"
)

// Lock is Chart.lock (requirements.lock for apiVersion v1 charts): the
// exact dependency versions `helm dependency update` resolved.
type Lock struct {
	// Generated is when the lock was written.
	Generated time.Time `json:"generated"`
	// Digest is [LockDigest] of Chart.yaml's dependencies and these.
	Digest string `json:"digest"`
	// Dependencies are the resolved dependencies (name, version, repository).
	Dependencies []*Dependency `json:"dependencies"`
}

// ParseLock parses Chart.lock or requirements.lock bytes (Helm's YAML
// semantics). Errors name the line when known.
func ParseLock(data []byte) (*Lock, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	l := new(Lock)
	if err := safeyaml.Unmarshal(data, l); err != nil {
		root, perr := parseNode(data)
		if perr != nil {
			return nil, yamlError(LockfileName, perr, nil)
		}
		return nil, yamlError(LockfileName, err, root)
	}
	return l, nil
}

// Marshal returns the YAML `helm dependency update` writes for l.
func (l *Lock) Marshal() ([]byte, error) { return yaml.Marshal(l) }

// LockDigest computes Helm v3's Chart.lock digest (internal/resolver
// HashReq, used by `helm dependency update` and checked by `helm
// dependency build`): "sha256:" + hex SHA-256 of the JSON array
// [req, lock]. req must be Chart.yaml's dependencies as Helm loads them
// (sanitized, see [Metadata.Sanitize]), with "@name"/"alias:name"
// repositories already replaced by their URLs as Helm does from the
// user's repositories.yaml.
func LockDigest(req, lock []*Dependency) (string, error) {
	data, err := json.Marshal([2][]*Dependency{req, lock})
	if err != nil {
		return "", fmt.Errorf("lock digest: %w", err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// LockDigestV2 computes the digest Helm 2 wrote into requirements.lock
// (Helm v3's HashV2Req), which Helm v3 still accepts for apiVersion v1
// charts: SHA-256 of {"dependencies": req}.
func LockDigestV2(req []*Dependency) (string, error) {
	data, err := json.Marshal(map[string][]*Dependency{"dependencies": req})
	if err != nil {
		return "", fmt.Errorf("lock digest: %w", err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// ErrLockOutOfSync is wrapped by [*LockError].
var ErrLockOutOfSync = errors.New("lock file out of sync with Chart.yaml")

// LockError lists how Chart.yaml's dependencies and the lock file differ.
type LockError struct {
	// File is "Chart.lock" or "requirements.lock".
	File string
	// Differences are readable one-line descriptions, in Chart.yaml order.
	Differences []string
}

// Error renders the differences and the fix.
func (e *LockError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is out of sync with Chart.yaml's dependencies", e.File)
	for _, d := range e.Differences {
		b.WriteString("\n  - " + d)
	}
	b.WriteString("\nrun `chartroom lock` to regenerate " + e.File)
	return b.String()
}

// Unwrap returns [ErrLockOutOfSync].
func (e *LockError) Unwrap() error { return ErrLockOutOfSync }

// CheckLock reports whether lock (nil: no lock file) still matches md's
// dependencies, comparing digests as `helm dependency build` does (for
// apiVersion v1 the Helm 2 digest is accepted too). A repository given
// as "@name" or "alias:name" is taken to stand for the URL the lock
// records, as Helm resolves it from the user's repositories.yaml. A
// mismatch is a [*LockError] listing each difference; if the digests
// differ but no field difference is found (e.g. a changed condition or
// import-values), it says so.
func CheckLock(md *Metadata, lock *Lock) error {
	file := LockfileName
	if md.APIVersion == APIVersionV1 || md.APIVersion == "" {
		file = RequirementsLockName
	}
	req := md.normalized().Dependencies
	if lock == nil {
		if len(req) == 0 {
			return nil
		}
		return &LockError{File: file, Differences: []string{fmt.Sprintf("%s is missing but Chart.yaml declares %d dependencies", file, len(req))}}
	}
	if sum, err := LockDigest(req, lock.Dependencies); err == nil && sum == lock.Digest {
		return nil
	}
	// Helm hashes "@name"/"alias:name" repositories after replacing them by
	// the URL from the user's repositories.yaml, and writes that URL into
	// the lock: take the lock's URL for them and hash again.
	if resolved, ok := resolveAliases(req, lock.Dependencies); ok {
		if sum, err := LockDigest(resolved, lock.Dependencies); err == nil && sum == lock.Digest {
			return nil
		}
	}
	if file == RequirementsLockName {
		if sum, err := LockDigestV2(req); err == nil && sum == lock.Digest {
			return nil
		}
	}
	diffs := lockDifferences(req, lock.Dependencies, file)
	if len(diffs) == 0 {
		diffs = []string{fmt.Sprintf("the digest in %s (%s) does not match Chart.yaml: a dependency's condition, tags, alias, import-values or order changed, or a repository is given as @name/alias:name", file, lock.Digest)}
	}
	return &LockError{File: file, Differences: diffs}
}

func isRepoAlias(repo string) bool {
	return strings.HasPrefix(repo, "@") || strings.HasPrefix(repo, "alias:")
}

// resolveAliases returns req with alias repositories replaced by the
// repository of the lock entry at the same position and with the same name.
func resolveAliases(req, locked []*Dependency) ([]*Dependency, bool) {
	out := cloneDeps(req)
	changed := false
	for i, d := range out {
		if d != nil && isRepoAlias(d.Repository) && i < len(locked) && locked[i] != nil && locked[i].Name == d.Name {
			d.Repository = locked[i].Repository
			changed = true
		}
	}
	return out, changed
}

func lockDifferences(req, locked []*Dependency, file string) []string {
	var diffs []string
	used := make([]bool, len(locked))
	for i, r := range req {
		if r == nil {
			continue
		}
		j := -1
		// Prefer the same position (Helm keeps Chart.yaml's order), else the
		// first unused entry with the same name.
		if i < len(locked) && locked[i] != nil && !used[i] && locked[i].Name == r.Name {
			j = i
		} else {
			for k, l := range locked {
				if l != nil && !used[k] && l.Name == r.Name {
					j = k
					break
				}
			}
		}
		if j < 0 {
			diffs = append(diffs, fmt.Sprintf("%s: in Chart.yaml but not in %s", r.Name, file))
			continue
		}
		used[j] = true
		l := locked[j]
		if l.Repository != r.Repository && !isRepoAlias(r.Repository) {
			diffs = append(diffs, fmt.Sprintf("%s: repository is %q in Chart.yaml but %q in %s", r.Name, r.Repository, l.Repository, file))
		}
		if c, err := semver.NewConstraint(r.Version); r.Version != "" && err == nil {
			if v, err := semver.NewVersion(l.Version); err != nil {
				diffs = append(diffs, fmt.Sprintf("%s: locked version %q is not a version", r.Name, l.Version))
			} else if !c.Check(v) {
				diffs = append(diffs, fmt.Sprintf("%s: locked version %s does not satisfy %q from Chart.yaml", r.Name, l.Version, r.Version))
			}
		}
		if j != i {
			diffs = append(diffs, fmt.Sprintf("%s: listed at position %d in Chart.yaml but %d in %s", r.Name, i+1, j+1, file))
		}
	}
	for k, l := range locked {
		if l != nil && !used[k] {
			diffs = append(diffs, fmt.Sprintf("%s: in %s but no longer in Chart.yaml", l.Name, file))
		}
	}
	return diffs
}

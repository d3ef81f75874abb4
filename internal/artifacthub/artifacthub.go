// Package artifacthub is Artifact Hub's repository metadata file, artifacthub-repo.yml: what
// it may hold, checked as Artifact Hub reads it, and written; and the tag and media types
// under which an OCI registry serves the same file (Artifact Hub's "artifacthub.io" tag).
//
// Artifact Hub reads the file of a Helm chart repository from <repository URL>/artifacthub-repo.yml,
// and that of a chart in an OCI registry from the layer of media type LayerMediaType of the
// manifest tagged Tag in the chart's repository (https://artifacthub.io/docs/topics/repositories/).
package artifacthub

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/safeyaml"
)

// Names and media types of the metadata.
const (
	// FileName is the file's name next to a chart repository's index.yaml.
	FileName = "artifacthub-repo.yml"
	// Tag is the tag of the metadata artifact in each chart repository of an OCI registry.
	Tag = "artifacthub.io"
	// ConfigMediaType is the media type of the artifact's (empty) config.
	ConfigMediaType = "application/vnd.cncf.artifacthub.config.v1+yaml"
	// LayerMediaType is the media type of the layer holding the file.
	LayerMediaType = "application/vnd.cncf.artifacthub.repository-metadata.layer.v1.yaml"
)

// MaxSize bounds the file: a repository ID, some owners and ignore rules take a few hundred
// bytes.
const MaxSize = 64 << 10

// ErrInvalid is wrapped by every refusal of a metadata file.
var ErrInvalid = errors.New("invalid Artifact Hub repository metadata")

// Metadata is what the file holds.
type Metadata struct {
	// RepositoryID is the ID Artifact Hub gave the repository (a UUID), which makes its
	// packages "verified publisher".
	RepositoryID string `json:"repositoryID,omitempty"`
	// Owners may claim the repository on Artifact Hub (by the e-mail of their account).
	Owners []Owner `json:"owners,omitempty"`
	// Ignore lists packages (and versions) Artifact Hub does not index.
	Ignore []Ignore `json:"ignore,omitempty"`
}

// Owner is one owner of the repository.
type Owner struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Ignore is a package Artifact Hub leaves out: all its versions, or those Version (a regular
// expression) matches.
type Ignore struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Parse reads and checks a metadata file: at most MaxSize bytes of YAML (aliases bounded)
// with only the fields Artifact Hub knows, a repositoryID that is a UUID, owners with an
// e-mail address, ignore rules with a package name and a version pattern that compiles.
func Parse(data []byte) (*Metadata, error) {
	if len(data) > MaxSize {
		return nil, invalid("the file has %d bytes, more than the %d allowed", len(data), MaxSize)
	}
	var md Metadata
	if err := safeyaml.UnmarshalStrict(data, &md); err != nil {
		return nil, invalid("%v; the file holds repositoryID, owners (name, email) and ignore (name, version) only", err)
	}
	// Field names as Artifact Hub reads them: exactly (the JSON decoding above ignores case).
	var raw struct {
		Top    map[string]any   `json:"-"`
		Owners []map[string]any `json:"owners"`
		Ignore []map[string]any `json:"ignore"`
	}
	if err := yaml.Unmarshal(data, &raw.Top); err != nil {
		return nil, invalid("%v", err)
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, invalid("%v", err)
	}
	if err := knownFields("", raw.Top, "repositoryID", "owners", "ignore"); err != nil {
		return nil, err
	}
	for i, o := range raw.Owners {
		if err := knownFields(fmt.Sprintf("owners[%d].", i), o, "name", "email"); err != nil {
			return nil, err
		}
	}
	for i, ig := range raw.Ignore {
		if err := knownFields(fmt.Sprintf("ignore[%d].", i), ig, "name", "version"); err != nil {
			return nil, err
		}
	}
	if err := md.Validate(); err != nil {
		return nil, err
	}
	return &md, nil
}

// knownFields refuses a field of m other than known, spelt exactly so.
func knownFields(prefix string, m map[string]any, known ...string) error {
	for k := range m {
		found := false
		for _, f := range known {
			found = found || k == f
		}
		if !found {
			return invalid("unknown field %s%s: Artifact Hub reads %s (spelt so)", prefix, k, strings.Join(known, ", "))
		}
	}
	return nil
}

// Validate checks md as Parse does.
func (md *Metadata) Validate() error {
	if md.RepositoryID != "" && !uuidPattern.MatchString(md.RepositoryID) {
		return invalid("repositoryID %q is not a UUID: copy the repository ID Artifact Hub shows in the repository's settings (e.g. 5a4b9f1c-…)", md.RepositoryID)
	}
	for i, o := range md.Owners {
		if a, err := mail.ParseAddress(o.Email); err != nil || a.Address != o.Email {
			return invalid("owners[%d]: email %q is not an e-mail address: give the e-mail of the owner's Artifact Hub account", i, o.Email)
		}
	}
	for i, ig := range md.Ignore {
		if ig.Name == "" {
			return invalid("ignore[%d]: name is missing: give the package (chart) name", i)
		}
		if _, err := regexp.Compile(ig.Version); err != nil {
			return invalid("ignore[%d]: version %q is not a regular expression: %v", i, ig.Version, err)
		}
	}
	return nil
}

// Marshal writes md as a metadata file, with a comment saying where it came from.
func (md *Metadata) Marshal() ([]byte, error) {
	if err := md.Validate(); err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(md)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(bytes.TrimSpace(b), []byte("{}")) {
		b = nil
	}
	return append([]byte("# Artifact Hub repository metadata, set with chartroom namespace set\n"), b...), nil
}

// ParseOwner reads an owner given as "Name <email>" or "email".
func ParseOwner(s string) (Owner, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return Owner{}, invalid("owner %q: give \"Name <email>\" or an e-mail address (%v)", s, err)
	}
	return Owner{Name: a.Name, Email: a.Address}, nil
}

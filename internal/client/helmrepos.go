package client

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// helmRepo is one repository of helm's repositories.yaml (`helm repo add NAME URL`).
type helmRepo struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

type helmRepoFile struct {
	Repositories []*helmRepo `json:"repositories"`
}

// helmRepos is helm's repositories.yaml, read once; nil when the file does not exist.
type helmRepos []*helmRepo

// loadHelmRepos reads helm's repositories.yaml. A missing file is no repositories.
func loadHelmRepos(path string) (helmRepos, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read helm's repository list: %w", err)
	}
	var f helmRepoFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read helm's repository list %s: %v; fix the file or set HELM_REPOSITORY_CONFIG", path, oneLine(err))
	}
	return f.Repositories, nil
}

// byName returns the repository added under name, or nil.
func (rs helmRepos) byName(name string) *helmRepo {
	for _, r := range rs {
		if r != nil && r.Name == name {
			return r
		}
	}
	return nil
}

// byURL returns the repository with this URL (trailing slashes ignored, as helm does), or nil.
func (rs helmRepos) byURL(u string) *helmRepo {
	for _, r := range rs {
		if r != nil && sameRepoURL(r.URL, u) {
			return r
		}
	}
	return nil
}

// resolveAlias turns a dependency repository written "@name" or "alias:name" into the URL
// of the repository helm knows under that name; other repositories are returned as they are.
func (rs helmRepos) resolveAlias(repo, path string) (string, error) {
	name, ok := strings.CutPrefix(repo, "@")
	if !ok {
		name, ok = strings.CutPrefix(repo, "alias:")
	}
	if !ok {
		return repo, nil
	}
	if r := rs.byName(name); r != nil {
		return r.URL, nil
	}
	return "", fmt.Errorf("repository %q: no repository named %s in %s; add it with `helm repo add %s URL` or write its URL in Chart.yaml", repo, name, path, name)
}

// sameRepoURL compares repository URLs ignoring a trailing slash (helm's urlutil.Equal).
func sameRepoURL(a, b string) bool {
	au, errA := url.Parse(a)
	bu, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
	}
	au.Path = strings.TrimSuffix(au.Path, "/")
	bu.Path = strings.TrimSuffix(bu.Path, "/")
	au.RawPath, bu.RawPath = "", ""
	return au.String() == bu.String()
}

// oneLine joins an error's lines.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

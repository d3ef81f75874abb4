package client

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/chartroom/chartroom/internal/chart"
)

// location is where charts live: an OCI namespace (oci://HOST/NAMESPACE) or a classic chart
// repository (https://HOST/NAMESPACE).
type location struct {
	oci  bool
	host string // host[:port]
	path string // the namespace: no leading or trailing slash, "" at the root
	base *url.URL
}

// String is the location as the user would write it.
func (l location) String() string {
	if l.oci {
		return strings.TrimSuffix("oci://"+l.host+"/"+l.path, "/")
	}
	return l.base.String()
}

// parseLocation reads oci://HOST[/NAMESPACE] or http(s)://HOST[/NAMESPACE][/index.yaml].
func parseLocation(s string) (location, error) {
	if rest, ok := strings.CutPrefix(s, "oci://"); ok {
		host, path, _ := strings.Cut(rest, "/")
		path = strings.Trim(path, "/")
		if host == "" {
			return location{}, fmt.Errorf("%q has no host: write oci://HOST/NAMESPACE, e.g. oci://charts.example.com/team", s)
		}
		if strings.ContainsAny(path, ":@") {
			return location{}, fmt.Errorf("%q names a tag or digest: give the namespace only, e.g. oci://%s/%s", s, host, strings.FieldsFunc(path, func(r rune) bool { return r == ':' || r == '@' })[0])
		}
		return location{oci: true, host: host, path: path}, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return location{}, fmt.Errorf("%q is not a registry location: write oci://HOST/NAMESPACE or https://HOST/NAMESPACE", s)
	}
	if u.User != nil {
		return location{}, fmt.Errorf("%s: do not put credentials in the URL; use --username and --password-stdin, or chartroom login %s", u.Redacted(), u.Host)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/index.yaml"), "/")
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return location{host: u.Host, path: strings.Trim(u.Path, "/"), base: u}, nil
}

// repoName is the OCI repository of chart name in this namespace.
func (l location) repoName(name string) string {
	if l.path == "" {
		return name
	}
	return l.path + "/" + name
}

// ociRef is the OCI reference of a chart version, as helm prints it.
func (l location) ociRef(name, version string) string {
	return l.host + "/" + l.repoName(name) + ":" + chart.OCITag(version)
}

// indexURL is the classic repository's index.
func (l location) indexURL() string { return l.base.String() + "/index.yaml" }

// uploadURL is the ChartMuseum-compatible upload endpoint of the namespace.
func (l location) uploadURL() string {
	u := *l.base
	u.Path = "/api/" + l.path
	if l.path == "" {
		u.Path = "/api"
	}
	u.Path += "/charts"
	return u.String()
}

// archiveURL is where the classic repository serves name-version.tgz.
func (l location) archiveURL(name, version string) string {
	return l.base.String() + "/charts/" + chart.ArchiveName(name, version)
}

// ChartRef names one chart at a location.
type ChartRef struct {
	loc  location
	Name string
	// Version is a version or constraint written in the reference (oci://…/NAME:VERSION),
	// "" if none.
	Version string
	// URL is a chart archive's own address (https://HOST/PATH/NAME-VERSION.tgz), "" if
	// none; Name is then "" until the archive is read.
	URL string
}

// String is the reference as the user would write it.
func (r ChartRef) String() string {
	if r.URL != "" {
		return r.URL
	}
	if r.loc.oci {
		return "oci://" + r.loc.host + "/" + r.loc.repoName(r.Name)
	}
	return r.loc.String() + " " + r.Name
}

// ParseChartRef reads the ways a chart is named on the command line:
//
//	oci://HOST/NAMESPACE/NAME[:VERSION]
//	https://HOST/NAMESPACE NAME          (repo and name, as two arguments)
//	NAME with repo https://HOST/NAMESPACE (helm pull NAME --repo URL)
//	REPO/NAME                             (a repository added with `helm repo add REPO URL`)
//	https://HOST/PATH/NAME-VERSION.tgz    (one chart archive, as helm pull takes it)
//
// repo is the --repo flag's value ("" if not given).
func (c *Client) ParseChartRef(args []string, repo string) (ChartRef, error) {
	switch {
	case len(args) == 1 && strings.HasPrefix(args[0], "oci://"):
		if repo != "" {
			return ChartRef{}, fmt.Errorf("--repo is for chart repositories; %s already says where the chart is", args[0])
		}
		rest := strings.TrimPrefix(args[0], "oci://")
		version := ""
		if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
			rest, version = rest[:i], rest[i+1:]
		}
		i := strings.LastIndex(rest, "/")
		if i < 0 || i == len(rest)-1 {
			return ChartRef{}, fmt.Errorf("%s names no chart: write oci://HOST/NAMESPACE/NAME", args[0])
		}
		loc, err := parseLocation("oci://" + rest[:i])
		if err != nil {
			return ChartRef{}, err
		}
		return ChartRef{loc: loc, Name: rest[i+1:], Version: chart.VersionOfOCITag(version)}, checkChartName(rest[i+1:])
	case len(args) == 1 && isArchiveURL(args[0]):
		return archiveRef(args[0], repo)
	case len(args) == 2:
		if repo != "" {
			return ChartRef{}, fmt.Errorf("give the repository once: either as the first argument or with --repo")
		}
		loc, err := parseLocation(args[0])
		if err != nil {
			return ChartRef{}, err
		}
		if loc.oci {
			return ChartRef{}, fmt.Errorf("for OCI write the chart into the reference: oci://%s/%s", loc.host, loc.repoName(args[1]))
		}
		return ChartRef{loc: loc, Name: args[1]}, checkChartName(args[1])
	case len(args) == 1 && repo != "":
		loc, err := parseLocation(repo)
		if err != nil {
			return ChartRef{}, fmt.Errorf("--repo: %w", err)
		}
		if loc.oci {
			return ChartRef{}, fmt.Errorf("--repo takes a chart repository URL; for OCI pull oci://%s/%s", loc.host, loc.repoName(args[0]))
		}
		return ChartRef{loc: loc, Name: args[0]}, checkChartName(args[0])
	case len(args) == 1 && strings.Count(args[0], "/") == 1 && !strings.Contains(args[0], "://"):
		repoName, name, _ := strings.Cut(args[0], "/")
		r := c.repos.byName(repoName)
		if r == nil {
			return ChartRef{}, fmt.Errorf("%s: no repository named %s in %s; add it with `helm repo add %s URL`, or pull https://HOST/NAMESPACE %s", args[0], repoName, c.opts.RepositoryConfig, repoName, name)
		}
		loc, err := parseLocation(r.URL)
		if err != nil {
			return ChartRef{}, fmt.Errorf("helm repository %s: %w", repoName, err)
		}
		return ChartRef{loc: loc, Name: name}, checkChartName(name)
	case len(args) == 1:
		return ChartRef{}, fmt.Errorf("%q does not say where the chart is: write oci://HOST/NAMESPACE/NAME, https://HOST/NAMESPACE NAME, or NAME --repo https://HOST/NAMESPACE", args[0])
	}
	return ChartRef{}, fmt.Errorf("expected a chart reference: oci://HOST/NAMESPACE/NAME, or https://HOST/NAMESPACE NAME")
}

// checkChartName refuses names that would escape the repository's URL space.
func checkChartName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\?#%@:") || name == "." || name == ".." {
		return fmt.Errorf("%q is not a chart name", name)
	}
	return nil
}

package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/provenance/provtest"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

// ruleCase is a chart brought to the registry, and what the registry must answer whichever
// protocol brings it.
type ruleCase struct {
	name string
	// ns, chart and version say where the chart goes and what it claims to be (the OCI push
	// goes to <ns>/<lower-case chart> under the version's tag, with the config of the archive
	// or, when the archive has none to read, of chart and version).
	ns, chart, version string
	archive, prov      []byte
	// setup runs first on the registry, e.g. to publish a version before the case.
	setup func(t *testing.T, e *registrytest.Env)
	want  error // nil: published
}

// protocol brings a case's chart to the registry.
type protocol struct {
	name string
	push func(t *testing.T, e *registrytest.Env, c ruleCase) error
}

var protocols = []protocol{
	{"upload API", func(t *testing.T, e *registrytest.Env, c ruleCase) error {
		_, err := e.Publish(t, c.archive, registry.PublishChartRequest{Namespace: c.ns, Prov: c.prov})
		return err
	}},
	{"OCI", func(t *testing.T, e *registrytest.Env, c ruleCase) error {
		repo := c.ns + "/" + strings.ToLower(c.chart)
		_, err := e.PushChart(t, repo, chart.OCITag(c.version), configOf(c), c.archive, c.prov)
		return err
	}},
}

// configOf is the config helm push makes of the case's archive.
func configOf(c ruleCase) []byte {
	if v, err := chart.ValidateArchive(bytes.NewReader(c.archive), chart.Limits{}); err == nil {
		if b, err := chart.ConfigJSON(v.Metadata); err == nil {
			return b
		}
	}
	return fmt.Appendf(nil, `{"apiVersion":"v2","name":%q,"version":%q}`, c.chart, c.version)
}

// TestChartRulesHoldOverBothProtocols runs every chart rule through PublishChart (the classic
// upload API) and PutManifest (an OCI push, as helm push makes it) and expects the same
// outcome of both: the same refusal, or the same index entry.
func TestChartRulesHoldOverBothProtocols(t *testing.T) {
	opts := registry.Options{MaxChartSize: 256 << 10}
	signer := charttest.NewSigner(t, "Chart Signer")
	good := charttest.Archive(t, "myapp", "1.0.0", "")
	other := charttest.Archive(t, "myapp", "1.0.0", "other bytes")
	goodProv := signer.Sign(t, good, "myapp-1.0.0.tgz")
	noise := make([]byte, 300<<10)
	for i := range noise {
		noise[i] = byte(rand.N(256))
	}
	bomb := fmt.Sprintf("a: &a %q\nb:\n%s", strings.Repeat("x", 1<<20), strings.Repeat("- *a\n", 3000))
	chartYAML := "apiVersion: v2\nname: myapp\nversion: 1.0.0\n"
	publish := func(archive []byte) func(*testing.T, *registrytest.Env) {
		return func(t *testing.T, e *registrytest.Env) {
			if _, err := e.Publish(t, archive, registry.PublishChartRequest{Namespace: "team"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publishDeleted := func(archive []byte) func(*testing.T, *registrytest.Env) {
		return func(t *testing.T, e *registrytest.Env) {
			publish(archive)(t, e)
			if err := e.DeleteChartVersion(context.Background(), "team", "myapp", "1.0.0", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []ruleCase{
		{name: "a valid chart", archive: good},
		{name: "a valid chart with its .prov", archive: good, prov: goodProv},
		{name: "an archive over the chart size limit", archive: charttest.Files(t, "myapp", map[string]string{"Chart.yaml": chartYAML, "files/noise.bin": string(noise)}), want: registry.ErrTooLarge},
		{name: "a .prov over its size limit", archive: good, prov: bytes.Repeat([]byte("x"), registry.MaxProvSize+1), want: registry.ErrChartInvalid},
		{name: "the .prov of other bytes", archive: good, prov: signer.Sign(t, other, "myapp-1.0.0.tgz"), want: registry.ErrChartInvalid},
		{name: "a .prov naming another file", archive: good, prov: signer.Sign(t, good, "myapp-9.9.9.tgz"), want: registry.ErrChartInvalid},
		{name: "a .prov whose signature is zeros", archive: good, prov: provtest.ZeroSignature(t, goodProv), want: registry.ErrChartInvalid},
		{name: "not gzip", archive: []byte("not a chart archive at all"), want: registry.ErrChartInvalid},
		{name: "a path out of the chart", archive: charttest.Tgz(t, charttest.Entry{Name: "myapp/Chart.yaml", Body: chartYAML}, charttest.Entry{Name: "myapp/../../etc/passwd", Body: "root"}), want: registry.ErrChartInvalid},
		{name: "a file over the per-file limit", archive: charttest.Tgz(t, charttest.Entry{Name: "myapp/Chart.yaml", Body: chartYAML}, charttest.Entry{Name: "myapp/templates/big.yaml", Size: 6 << 20}), want: registry.ErrChartInvalid},
		{name: "an alias bomb in values.yaml", archive: charttest.Files(t, "myapp", map[string]string{"Chart.yaml": chartYAML, "values.yaml": bomb}), want: registry.ErrChartInvalid},
		{name: "no Chart.yaml", archive: charttest.Files(t, "myapp", map[string]string{"values.yaml": "a: 1\n"}), want: registry.ErrChartInvalid},
		{name: "a version that is not SemVer", version: "v1.0", archive: charttest.Archive(t, "myapp", "v1.0", ""), want: registry.ErrChartInvalid},
		{name: "a chart name that is no repository name", chart: "MyApp", archive: charttest.Archive(t, "MyApp", "1.0.0", ""), want: registry.ErrChartInvalid},
		{name: "a reserved namespace", ns: "v2", archive: good, want: registry.ErrNameInvalid},
		{name: "a version published with other bytes", archive: good, setup: publish(other), want: registry.ErrImmutable},
		{name: "the same bytes again", archive: good, setup: publish(good)},
		{name: "other bytes after a delete", archive: good, setup: publishDeleted(other), want: registry.ErrImmutable},
		{name: "the same bytes after a delete", archive: good, setup: publishDeleted(good)},
	}
	created := regexp.MustCompile(`"created":"[^"]*",?`)
	for _, c := range cases {
		if c.ns == "" {
			c.ns = "team"
		}
		if c.chart == "" {
			c.chart = "myapp"
		}
		if c.version == "" {
			c.version = "1.0.0"
		}
		t.Run(c.name, func(t *testing.T) {
			entries := map[string]string{}
			for _, p := range protocols {
				t.Run(p.name, func(t *testing.T) {
					ctx := context.Background()
					e := registrytest.New(t, opts)
					if c.setup != nil {
						c.setup(t, e)
					}
					before, err := e.IndexState(ctx, c.ns)
					if err != nil {
						t.Fatal(err)
					}
					err = p.push(t, e, c)
					if c.want == nil {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						v, err := e.ChartVersion(ctx, c.ns, c.chart, c.version)
						if err != nil {
							t.Fatal(err)
						}
						entries[p.name] = created.ReplaceAllString(string(v.Entry), "")
						return
					}
					if !errors.Is(err, c.want) {
						t.Fatalf("got %v, want %v", err, c.want)
					}
					t.Log(err)
					if after, _ := e.IndexState(ctx, c.ns); after != before {
						t.Fatalf("a refused chart changed the namespace: %+v, then %+v", before, after)
					}
				})
			}
			if c.want == nil && entries["upload API"] != entries["OCI"] {
				t.Fatalf("the index entries differ:\nupload API: %s\nOCI:        %s", entries["upload API"], entries["OCI"])
			}
		})
	}
}

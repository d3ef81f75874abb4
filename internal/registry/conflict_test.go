package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

// A version published again with an archive of the same chart packaged differently (another
// time, order, owner, compression) is refused as any other bytes are, but the refusal says
// that only the packaging differs and how to package reproducibly, over both protocols; an
// archive with other content gets the plain refusal.
func TestRepackagedChartConflictSaysSo(t *testing.T) {
	published := charttest.Archive(t, "myapp", "1.0.0", "")
	repackaged := charttest.Repackaged(t, published, time.Unix(1700000000, 0))
	changed := charttest.Archive(t, "myapp", "1.0.0", "a change")
	const same = "holds the same chart"
	for _, tc := range []struct {
		name    string
		archive []byte
		deleted bool
		want    []string // substrings of the refusal
		wantNot []string
	}{
		{name: "repackaged", archive: repackaged,
			want: []string{"already published", same, "file timestamps", "SOURCE_DATE_EPOCH", "chartroom package is reproducible", "keep the published archive"}},
		{name: "repackaged, after a delete", archive: repackaged, deleted: true,
			want: []string{"published and deleted", same, "SOURCE_DATE_EPOCH", "push that one"}},
		{name: "other content", archive: changed, want: []string{"already published", "publish a new version"}, wantNot: []string{same, "SOURCE_DATE_EPOCH"}},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				e := registrytest.New(t, registry.Options{})
				if _, err := e.Publish(t, published, registry.PublishChartRequest{Namespace: "team"}); err != nil {
					t.Fatal(err)
				}
				if tc.deleted {
					if err := e.DeleteChartVersion(context.Background(), "team", "myapp", "1.0.0", ""); err != nil {
						t.Fatal(err)
					}
				}
				err := p.push(t, e, ruleCase{ns: "team", chart: "myapp", version: "1.0.0", archive: tc.archive})
				if !errors.Is(err, registry.ErrImmutable) {
					t.Fatalf("got %v; want ErrImmutable", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("the refusal lacks %q: %v", w, err)
					}
				}
				for _, w := range tc.wantNot {
					if strings.Contains(err.Error(), w) {
						t.Errorf("the refusal says %q: %v", w, err)
					}
				}
			})
		}
	}
}

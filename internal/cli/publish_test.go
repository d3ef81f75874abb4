package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/blob/s3/s3test"
	"github.com/chartroom/chartroom/internal/publish"
)

func TestPublishUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "s3://charts/stable"}, "takes the chart archives, then the bucket URL"},
		{[]string{"publish", "web-1.0.0.tgz"}, "takes the chart archives, then the bucket URL"},
		{[]string{"publish", "web-1.0.0.tgz", "charts/stable"}, "is not a bucket URL"},
		{[]string{"publish", "s3://a-b/x", "web-1.0.0.tgz", "s3://charts/stable"}, "give one bucket URL, last"},
		{[]string{"publish", "--reindex", "web-1.0.0.tgz", "s3://charts/stable"}, "--reindex takes one argument"},
		{[]string{"publish", "web-1.0.0.tgz", "s3://charts/stable?endpont=http://x"}, "unknown parameter endpont"},
	} {
		tcRun(t, "", tc.args...).want(t, 2, tc.want)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	tcRun(t, "", "publish", "web-1.0.0.tgz", "s3://charts/stable").want(t, 2, "no S3 credentials", "AWS_ACCESS_KEY_ID")
}

// TestPublishCommand: publish, publish again (already published, exit 0), reindex, on a
// real versitygw, with -o json.
func TestPublishCommand(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dest := srv.URL(bucket, "stable")
	repo := t.TempDir()
	tcRun(t, "", "package", tcChart(t, filepath.Join(t.TempDir(), "alpha"), "alpha"), "-d", repo).want(t, 0)
	archives, _ := filepath.Glob(filepath.Join(repo, "*.tgz"))
	if len(archives) != 1 {
		t.Fatalf("archives %v", archives)
	}

	var res publish.Result
	r := tcRun(t, "", "publish", archives[0], dest, "-o", "json")
	r.want(t, 0)
	r.json(t, &res)
	if len(res.Charts) != 1 || res.Charts[0].Status != publish.Published || res.Attempts != 1 {
		t.Fatalf("publish: %+v", res)
	}
	tcRun(t, "", "publish", archives[0], dest).want(t, 0, "alpha", "is already published with the same bytes")

	var re struct {
		Versions int         `json:"versions"`
		Skipped  []indexSkip `json:"skipped"`
	}
	r = tcRun(t, "", "publish", "--reindex", dest, "-o", "json")
	r.want(t, 0)
	r.json(t, &re)
	if re.Versions != 1 || re.Skipped == nil {
		t.Fatalf("reindex: %+v\n%s", re, r.stdout)
	}
	os.Remove(archives[0])
	tcRun(t, "", "publish", archives[0], dest).want(t, 2, "no such file")
}

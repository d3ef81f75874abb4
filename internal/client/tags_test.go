package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// A registry's tag list is read to a bounded end: one whose Link: rel="next" never ends, or
// loops back to tags already listed, or lists too many or impossible tags, fails pull
// (without an exact version) and lock with an error that says so, instead of running until
// the client gives up.
func TestTagListIsBounded(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		page func(n int) []string // the tags of page n (0-based)
		// pages ends the list after so many pages, far beyond the bounds, so that a client
		// without bounds finishes (and the test fails) instead of hanging.
		pages int
		want  string
	}{
		{"endless", func(n int) []string { return []string{fmt.Sprintf("1.0.%d", n)} },
			2 * maxTagPages, fmt.Sprintf("has more than %d pages", maxTagPages)},
		{"repeating", func(int) []string { return []string{"1.0.0", "1.1.0"} },
			2 * maxTagPages, "repeats itself"},
		{"empty pages", func(int) []string { return nil },
			2 * maxTagPages, "repeats itself"},
		{"too many tags", func(n int) []string {
			tags := make([]string, maxTags/5)
			for i := range tags {
				tags[i] = fmt.Sprintf("1.%d.%d", n, i)
			}
			return tags
		}, 10, fmt.Sprintf("lists more than %d tags", maxTags)},
		{"impossible tag", func(int) []string { return []string{strings.Repeat("1", 200)} },
			1, "holds a 200-character tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int64
			reg := newRecorder(t, false, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/team/myapp/tags/list" {
					if r.URL.Path != "/v2/" {
						http.NotFound(w, r)
					}
					return
				}
				requests.Add(1)
				n, _ := strconv.Atoi(r.URL.Query().Get("page")) // 0 on the first page
				if n+1 < tc.pages {
					w.Header().Set("Link", fmt.Sprintf(`</v2/team/myapp/tags/list?page=%d>; rel="next"`, n+1))
				}
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]any{"name": "team/myapp", "tags": tc.page(n)})
			})
			env := newTestEnv(t)

			c := env.client(t, Options{})
			ref, err := c.ParseChartRef([]string{"oci://" + reg.host() + "/team/myapp"}, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Pull(ctx, ref, PullOptions{DestDir: t.TempDir()})
			oneLineError(t, err, nil, "oci://"+reg.host()+"/team/myapp", tc.want)
			if n := requests.Load(); n > maxTagPages+1 {
				t.Errorf("pull read %d pages", n)
			}

			requests.Store(0)
			dir := testChart(t, t.TempDir(), "parent", "1.0.0", "  - name: myapp\n    version: ^1\n    repository: oci://"+reg.host()+"/team\n", "x")
			_, err = env.client(t, Options{}).Lock(ctx, dir)
			oneLineError(t, err, nil, tc.want)
			if n := requests.Load(); n > maxTagPages+1 {
				t.Errorf("lock read %d pages", n)
			}
		})
	}
}

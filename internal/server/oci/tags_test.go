package oci

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
)

func TestTagsAndCatalog(t *testing.T) {
	e := newEnv(t, registry.Options{})
	m := e.pushImage("team/app", "layer", nil)
	for _, tag := range []string{"c", "a", "e", "b", "d"} {
		e.putManifest("team/app", tag, m).expect(t, http.StatusCreated, "")
	}
	for _, repo := range []string{"team/zeta", "alpha", "team/mid"} {
		e.pushBlob(repo, []byte("x"))
	}
	tests := []struct {
		name, path string
		status     int
		code       string
		want       string // the listing, comma-separated
		link       string
	}{
		{"all tags", "/v2/team/app/tags/list", http.StatusOK, "", "a,b,c,d,e", ""},
		{"first page", "/v2/team/app/tags/list?n=2", http.StatusOK, "", "a,b", `</v2/team/app/tags/list?last=b&n=2>; rel="next"`},
		{"next page", "/v2/team/app/tags/list?n=2&last=b", http.StatusOK, "", "c,d", `</v2/team/app/tags/list?last=d&n=2>; rel="next"`},
		{"last page", "/v2/team/app/tags/list?n=2&last=d", http.StatusOK, "", "e", ""},
		{"exact last page", "/v2/team/app/tags/list?n=5", http.StatusOK, "", "a,b,c,d,e", ""},
		{"after last without n", "/v2/team/app/tags/list?last=c", http.StatusOK, "", "d,e", ""},
		{"n=0", "/v2/team/app/tags/list?n=0", http.StatusOK, "", "", ""},
		{"negative n", "/v2/team/app/tags/list?n=-1", http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "", ""},
		{"n not a number", "/v2/team/app/tags/list?n=ten", http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "", ""},
		{"repository without tags", "/v2/alpha/tags/list", http.StatusOK, "", "", ""},
		{"unknown repository", "/v2/nothing/here/tags/list", http.StatusNotFound, "NAME_UNKNOWN", "", ""},
		{"catalog", "/v2/_catalog", http.StatusOK, "", "alpha,team/app,team/mid,team/zeta", ""},
		{"catalog page", "/v2/_catalog?n=3", http.StatusOK, "", "alpha,team/app,team/mid", `</v2/_catalog?last=team%2Fmid&n=3>; rel="next"`},
		{"catalog next page", "/v2/_catalog?n=3&last=team/mid", http.StatusOK, "", "team/zeta", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", tt.path, nil)
			res.expect(t, tt.status, tt.code)
			if tt.status != http.StatusOK {
				return
			}
			var body struct {
				Name         string    `json:"name"`
				Tags         *[]string `json:"tags"`
				Repositories *[]string `json:"repositories"`
			}
			if err := json.Unmarshal(res.body, &body); err != nil {
				t.Fatal(err)
			}
			list := body.Tags
			if strings.HasPrefix(tt.path, "/v2/_catalog") {
				list = body.Repositories
			} else if body.Name == "" {
				t.Error("no name in the tag list")
			}
			if list == nil {
				t.Fatalf("listing missing or null: %s", res.body)
			}
			if got := strings.Join(*list, ","); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if got := res.header.Get("Link"); got != tt.link {
				t.Errorf("Link = %q, want %q", got, tt.link)
			}
		})
	}
}

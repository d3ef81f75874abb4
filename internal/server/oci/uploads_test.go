package oci

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/registry"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// startUpload opens an upload session in repo and returns its Location.
func (e *env) startUpload(repo string) string {
	e.t.Helper()
	res := e.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	res.expect(e.t, http.StatusAccepted, "")
	loc := res.header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/"+repo+"/blobs/uploads/") || res.header.Get("Docker-Upload-UUID") == "" || res.header.Get("Range") != "0-0" {
		e.t.Fatalf("upload headers: %v", res.header)
	}
	return loc
}

func withDigest(loc string, d digest.Digest) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + d.String()
}

// checkBlob checks that repo serves data under d.
func (e *env) checkBlob(repo string, d digest.Digest, data []byte) {
	e.t.Helper()
	res := e.do("GET", "/v2/"+repo+"/blobs/"+d.String(), nil)
	res.expect(e.t, http.StatusOK, "")
	if !bytes.Equal(res.body, data) {
		e.t.Fatalf("blob %s: %d bytes back, want %d", d, len(res.body), len(data))
	}
}

func TestUploadFlows(t *testing.T) {
	e := newEnv(t, registry.Options{})
	tests := []struct {
		name string
		algo digest.Algorithm
		size int
		push func(t *testing.T, repo string, data []byte, d digest.Digest) *response
	}{
		{"monolithic POST", digest.SHA256, 3000, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			return e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data)
		}},
		{"monolithic POST sha512", digest.SHA512, 3000, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			return e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data)
		}},
		{"empty blob", digest.SHA256, 0, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			return e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data)
		}},
		{"POST then PUT", digest.SHA256, 3000, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			return e.do("PUT", withDigest(e.startUpload(repo), d), data)
		}},
		{"POST then streamed PUT", digest.SHA512, 3000, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			return e.send(request{method: "PUT", path: withDigest(e.startUpload(repo), d), body: data, streamed: true})
		}},
		{"chunked", digest.SHA256, 3067, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			loc := e.startUpload(repo)
			for start := 0; start < len(data); start += 1024 {
				end := min(start+1024, len(data))
				res := e.do("PATCH", loc, data[start:end], "Content-Range", fmt.Sprintf("%d-%d", start, end-1))
				res.expect(t, http.StatusAccepted, "")
				if got, want := res.header.Get("Range"), fmt.Sprintf("0-%d", end-1); got != want {
					t.Fatalf("Range = %q, want %q", got, want)
				}
				loc = res.header.Get("Location")
			}
			return e.do("PUT", withDigest(loc, d), nil)
		}},
		{"chunked sha512 with the last chunk in the PUT", digest.SHA512, 3067, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			loc := e.startUpload(repo)
			e.do("PATCH", loc, data[:2048], "Content-Range", "0-2047").expect(t, http.StatusAccepted, "")
			return e.do("PUT", withDigest(loc, d), data[2048:], "Content-Range", fmt.Sprintf("2048-%d", len(data)-1))
		}},
		{"chunked without Content-Length", digest.SHA256, 2000, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			loc := e.startUpload(repo)
			e.send(request{method: "PATCH", path: loc, body: data[:1000], streamed: true, header: map[string]string{"Content-Range": "0-999"}}).expect(t, http.StatusAccepted, "")
			e.send(request{method: "PATCH", path: loc, body: data[1000:], streamed: true, header: map[string]string{"Content-Range": "1000-1999"}}).expect(t, http.StatusAccepted, "")
			return e.do("PUT", withDigest(loc, d), nil)
		}},
		{"streamed PATCH", digest.SHA256, 100000, func(t *testing.T, repo string, data []byte, d digest.Digest) *response {
			loc := e.startUpload(repo)
			res := e.send(request{method: "PATCH", path: loc, body: data, streamed: true})
			res.expect(t, http.StatusAccepted, "")
			if got := res.header.Get("Range"); got != fmt.Sprintf("0-%d", len(data)-1) {
				t.Fatalf("Range = %q", got)
			}
			return e.do("PUT", withDigest(res.header.Get("Location"), d), nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := "team/flows"
			data := randomBytes(t, tt.size)
			d := tt.algo.FromBytes(data)
			res := tt.push(t, repo, data, d)
			res.expect(t, http.StatusCreated, "")
			if got := res.header.Get("Docker-Content-Digest"); got != d.String() {
				t.Errorf("Docker-Content-Digest = %q", got)
			}
			if got := res.header.Get("Location"); got != "/v2/"+repo+"/blobs/"+d.String() {
				t.Errorf("Location = %q", got)
			}
			e.checkBlob(repo, d, data)
		})
	}
}

func TestUploadBadDigest(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := randomBytes(t, 3000)
	claimed := digest.FromBytes(append(bytes.Clone(data), "oh no"...))
	tests := []struct {
		name string
		push func(t *testing.T) *response
	}{
		{"monolithic POST", func(t *testing.T) *response {
			return e.do("POST", "/v2/app/blobs/uploads/?digest="+claimed.String(), data)
		}},
		{"POST then PUT", func(t *testing.T) *response {
			return e.do("PUT", withDigest(e.startUpload("app"), claimed), data)
		}},
		{"chunked", func(t *testing.T) *response {
			loc := e.startUpload("app")
			e.do("PATCH", loc, data, "Content-Range", fmt.Sprintf("0-%d", len(data)-1)).expect(t, http.StatusAccepted, "")
			return e.do("PUT", withDigest(loc, claimed), nil)
		}},
		{"streamed", func(t *testing.T) *response {
			loc := e.startUpload("app")
			e.send(request{method: "PATCH", path: loc, body: data, streamed: true}).expect(t, http.StatusAccepted, "")
			return e.do("PUT", withDigest(loc, claimed), nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.push(t).expect(t, http.StatusBadRequest, "DIGEST_INVALID")
			e.do("HEAD", "/v2/app/blobs/"+claimed.String(), nil).expect(t, http.StatusNotFound, "")
			e.storedNowhere(claimed)
			e.storedNowhere(digest.FromBytes(data))
		})
	}
}

func TestUploadErrors(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := randomBytes(t, 100)
	d := digest.FromBytes(data)
	other := e.startUpload("other")
	otherID := other[strings.LastIndexByte(other, '/')+1:]
	tests := []struct {
		name   string
		run    func(t *testing.T, loc string) *response
		status int
		code   string
	}{
		{"PUT without digest", func(t *testing.T, loc string) *response {
			return e.do("PUT", loc, data)
		}, http.StatusBadRequest, "DIGEST_INVALID"},
		{"PUT with a malformed digest", func(t *testing.T, loc string) *response {
			return e.do("PUT", loc+"?digest=sha256:nothex", data)
		}, http.StatusBadRequest, "DIGEST_INVALID"},
		{"PUT with an unknown algorithm", func(t *testing.T, loc string) *response {
			return e.do("PUT", loc+"?digest=md5:"+strings.Repeat("0", 32), data)
		}, http.StatusBadRequest, "DIGEST_INVALID"},
		{"POST with an unknown algorithm", func(t *testing.T, loc string) *response {
			return e.do("POST", "/v2/app/blobs/uploads/?digest=sha1:"+strings.Repeat("0", 40), data)
		}, http.StatusBadRequest, "DIGEST_INVALID"},
		{"POST of a truncated body", func(t *testing.T, loc string) *response {
			return e.do("POST", "/v2/app/blobs/uploads/?digest="+d.String(), data[:50])
		}, http.StatusBadRequest, "DIGEST_INVALID"},
		{"chunk not at the start", func(t *testing.T, loc string) *response {
			return e.do("PATCH", loc, data, "Content-Range", "10-109")
		}, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID"},
		{"malformed Content-Range", func(t *testing.T, loc string) *response {
			return e.do("PATCH", loc, data, "Content-Range", "10-")
		}, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID"},
		{"Content-Range and Content-Length disagree", func(t *testing.T, loc string) *response {
			return e.do("PATCH", loc, data, "Content-Range", "0-9")
		}, http.StatusBadRequest, "SIZE_INVALID"},
		{"streamed chunk longer than its Content-Range", func(t *testing.T, loc string) *response {
			return e.send(request{method: "PATCH", path: loc, body: data, streamed: true, header: map[string]string{"Content-Range": "0-9"}})
		}, http.StatusBadRequest, "SIZE_INVALID"},
		{"streamed chunk shorter than its Content-Range", func(t *testing.T, loc string) *response {
			return e.send(request{method: "PATCH", path: loc, body: data, streamed: true, header: map[string]string{"Content-Range": "0-199"}})
		}, http.StatusBadRequest, "SIZE_INVALID"},
		{"unknown upload", func(t *testing.T, loc string) *response {
			return e.do("PATCH", "/v2/app/blobs/uploads/nope", data)
		}, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"},
		{"upload of another repository", func(t *testing.T, loc string) *response {
			return e.do("PATCH", "/v2/app/blobs/uploads/"+otherID, data)
		}, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"},
		{"status of a cancelled upload", func(t *testing.T, loc string) *response {
			e.do("DELETE", loc, nil).expect(t, http.StatusNoContent, "")
			return e.do("GET", loc, nil)
		}, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"},
		{"PUT to a finished upload", func(t *testing.T, loc string) *response {
			e.do("PUT", withDigest(loc, d), data).expect(t, http.StatusCreated, "")
			return e.do("PUT", withDigest(loc, d), data)
		}, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := e.startUpload("app")
			tt.run(t, loc).expect(t, tt.status, tt.code)
		})
	}
}

func TestUploadOutOfOrder(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := randomBytes(t, 3000)
	d := digest.FromBytes(data)
	loc := e.startUpload("app")
	e.do("PATCH", loc, data[:1000], "Content-Range", "0-999").expect(t, http.StatusAccepted, "")
	for _, cr := range []string{"2000-2999", "0-999", "999-1998"} {
		t.Run("PATCH "+cr, func(t *testing.T) {
			var a, b int
			fmt.Sscanf(cr, "%d-%d", &a, &b)
			res := e.do("PATCH", loc, data[a:b+1], "Content-Range", cr)
			res.expect(t, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
			if res.header.Get("Range") != "0-999" || res.header.Get("Location") != loc {
				t.Errorf("416 without where the upload stands: %v", res.header)
			}
		})
	}
	t.Run("PUT with an out-of-order last chunk", func(t *testing.T) {
		e.do("PUT", withDigest(loc, d), data[2000:], "Content-Range", "2000-2999").expect(t, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
	})
	t.Run("status then resume", func(t *testing.T) {
		res := e.do("GET", loc, nil)
		res.expect(t, http.StatusNoContent, "")
		if res.header.Get("Range") != "0-999" || res.header.Get("Location") != loc {
			t.Fatalf("status headers: %v", res.header)
		}
		e.do("PATCH", loc, data[1000:2000], "Content-Range", "1000-1999").expect(t, http.StatusAccepted, "")
		e.do("PUT", withDigest(loc, d), data[2000:], "Content-Range", "2000-2999").expect(t, http.StatusCreated, "")
		e.checkBlob("app", d, data)
	})
}

func TestMount(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := randomBytes(t, 500)
	d := e.pushBlob("team/source", data)
	missing := digest.FromString("not pushed anywhere")
	tests := []struct {
		name, target, query string
		status              int
	}{
		{"from a repository", "team/a", "mount=" + d.String() + "&from=team/source", http.StatusCreated},
		{"anonymous, without from", "team/b", "mount=" + d.String(), http.StatusCreated},
		{"from a repository lacking it: an upload starts", "team/c", "mount=" + d.String() + "&from=team/empty", http.StatusAccepted},
		{"missing everywhere: an upload starts", "team/d", "mount=" + missing.String(), http.StatusAccepted},
		{"from an invalid name: an upload starts", "team/e", "mount=" + d.String() + "&from=../x", http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("POST", "/v2/"+tt.target+"/blobs/uploads/?"+tt.query, nil)
			res.expect(t, tt.status, "")
			if tt.status == http.StatusCreated {
				if res.header.Get("Location") != "/v2/"+tt.target+"/blobs/"+d.String() || res.header.Get("Docker-Content-Digest") != d.String() {
					t.Errorf("mount headers: %v", res.header)
				}
				e.checkBlob(tt.target, d, data)
				return
			}
			if !strings.HasPrefix(res.header.Get("Location"), "/v2/"+tt.target+"/blobs/uploads/") {
				t.Errorf("no upload location: %v", res.header)
			}
			e.do("HEAD", "/v2/"+tt.target+"/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
		})
	}
	t.Run("malformed digest", func(t *testing.T) {
		e.do("POST", "/v2/team/f/blobs/uploads/?mount=sha256:zz&from=team/source", nil).expect(t, http.StatusBadRequest, "DIGEST_INVALID")
	})
}

func TestMountAfterDelete(t *testing.T) {
	e := newEnv(t, registry.Options{})
	data := randomBytes(t, 100)
	d := e.pushBlob("team/source", data)
	e.do("DELETE", "/v2/team/source/blobs/"+d.String(), nil).expect(t, http.StatusAccepted, "")
	// No repository holds the blob any more: there is nothing to mount, an upload starts.
	e.do("POST", "/v2/team/target/blobs/uploads/?mount="+d.String(), nil).expect(t, http.StatusAccepted, "")
	e.do("HEAD", "/v2/team/target/blobs/"+d.String(), nil).expect(t, http.StatusNotFound, "")
}

// TestUploadSessionLimit: past MaxUploadsPerUser open sessions, POST answers 429
// TOOMANYREQUESTS saying how many are open and when idle ones expire; finishing or
// cancelling a session frees its place.
func TestUploadSessionLimit(t *testing.T) {
	e := newEnv(t, registry.Options{MaxUploadsPerUser: 2, UploadExpiry: 90 * time.Minute})
	const repo = "team/app"
	first := e.startUpload(repo)
	second := e.startUpload(repo)
	refused := func() {
		t.Helper()
		res := e.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
		res.expect(t, http.StatusTooManyRequests, "TOOMANYREQUESTS")
		for _, want := range []string{"admin", "2 upload sessions open", "DELETE", "1h30m0s"} {
			if !strings.Contains(res.message(), want) {
				t.Errorf("message %q does not say %q", res.message(), want)
			}
		}
	}
	refused()
	// A monolithic push (POST ?digest=) opens no session: it is not limited.
	e.pushBlob(repo, []byte("whole"))

	data := []byte("chunked layer")
	e.do("PUT", withDigest(first, digest.FromBytes(data)), data).expect(t, http.StatusCreated, "")
	third := e.startUpload(repo)
	refused()
	e.do("DELETE", second, nil).expect(t, http.StatusNoContent, "")
	e.startUpload(repo)
	refused()
	e.do("DELETE", third, nil).expect(t, http.StatusNoContent, "")
	e.startUpload(repo)
}

package e2e

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrashDuringRepoUpload kills the server (SIGKILL) while two classic uploads (a raw body
// and a multipart one, as helm cm-push sends it) are being spooled, and checks after a
// restart that nothing of them is left: not under the data directory, and nothing at all in
// the server's $TMPDIR, where a crash would leave it for good.
func TestCrashDuringRepoUpload(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the server inherits it
	srv := StartServer(t)
	c := adminClient(srv)
	spoolDir := filepath.Join(srv.DataDir, "tmp")

	// Each upload sends its first bytes, then holds the rest back: the server is spooling
	// when it dies.
	type upload struct {
		pw       *io.PipeWriter
		answered chan error
	}
	start := func(contentType string, head func(w io.Writer)) upload {
		pr, pw := io.Pipe()
		req, err := c.request(t.Context(), "POST", repoAPI("team", "charts"), pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		req.ContentLength = -1
		u := upload{pw: pw, answered: make(chan error, 1)}
		go func() {
			resp, err := c.http.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				err = fmt.Errorf("answered %d %s before the crash", resp.StatusCode, b)
			}
			pr.CloseWithError(io.ErrClosedPipe)
			u.answered <- err
		}()
		go head(pw)
		return u
	}
	const boundary = "chartroom-crash-test-boundary"
	uploads := []upload{
		start("application/gzip", func(w io.Writer) {
			io.CopyN(w, newStream(3, 1<<20), 256<<10)
		}),
		start("multipart/form-data; boundary="+boundary, func(w io.Writer) {
			mw := multipart.NewWriter(w)
			mw.SetBoundary(boundary)
			if fw, err := mw.CreateFormFile("chart", "myapp-1.0.0.tgz"); err == nil {
				io.CopyN(fw, newStream(4, 1<<20), 256<<10)
			}
		}),
	}

	// Wait until the server has spooled some of both, wherever it spools.
	deadline := time.Now().Add(time.Minute)
	for len(filesUnder(t, spoolDir))+len(filesUnder(t, tmp)) < len(uploads) {
		for _, u := range uploads {
			select {
			case err := <-u.answered:
				t.Fatalf("an upload ended before the crash: %v", err)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server spooled no upload within a minute; %s: %v, $TMPDIR: %v", spoolDir, filesUnder(t, spoolDir), filesUnder(t, tmp))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("spooling: %s: %v, $TMPDIR: %v", spoolDir, filesUnder(t, spoolDir), filesUnder(t, tmp))
	srv.Kill()
	for _, u := range uploads {
		u.pw.CloseWithError(errors.New("the server was killed"))
		if err := <-u.answered; err == nil || strings.Contains(err.Error(), "before the crash") {
			t.Fatalf("the interrupted upload: %v", err)
		}
	}

	srv.Restart()
	if left := filesUnder(t, spoolDir); len(left) > 0 {
		t.Errorf("after the restart, the data directory still holds the interrupted uploads: %v", left)
	}
	if left := filesUnder(t, tmp); len(left) > 0 {
		t.Errorf("the server left files in $TMPDIR (%s), which nothing ever removes: %v", tmp, left)
	}
	t.Log("an upload after the restart succeeds and leaves nothing behind")
	resp, body, err := c.do("POST", repoAPI("team", "charts"), repoArchive(t, "myapp", "1.0.0", ""), map[string]string{"Content-Type": "application/gzip"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload after the restart: %v %v %s", err, resp, body)
	}
	if left := append(filesUnder(t, spoolDir), filesUnder(t, tmp)...); len(left) > 0 {
		t.Errorf("a finished upload left %v", left)
	}
}

// filesUnder lists the regular files under dir (none when dir does not exist).
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/chartroom/chartroom/internal/blob"
)

// folder is what a listing shows of one upload's folder.
type folder struct {
	id       string
	state    bool
	marked   bool // has an activity marker
	active   time.Time
	owner    string
	modified time.Time // newest LastModified of its objects (the server's clock)
}

// folders lists the upload folders under <prefix>/uploads/ in one listing (no object is read).
func (s *Store) folders(ctx context.Context) (map[string]*folder, error) {
	base := s.key("uploads/")
	objs, err := s.listKeys(ctx, base)
	if err != nil {
		return nil, err
	}
	out := map[string]*folder{}
	for _, o := range objs {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.key, base), "/")
		if !ok || !uploadIDPattern.MatchString(id) {
			continue
		}
		f := out[id]
		if f == nil {
			f = &folder{id: id}
			out[id] = f
		}
		if o.modified.After(f.modified) {
			f.modified = o.modified
		}
		if name == "state" {
			f.state = true
		} else if t, owner, ok := parseMarker(name); ok && (!f.marked || t.After(f.active)) {
			f.marked, f.active, f.owner = true, t, owner
		}
	}
	return out, nil
}

// Uploads implements blob.UploadSweeper with one listing (a page per 1,000 objects): the
// owner and last activity of each session are in the name of its activity marker.
func (s *Store) Uploads(ctx context.Context) ([]blob.UploadInfo, error) {
	fs, err := s.folders(ctx)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	out := make([]blob.UploadInfo, 0, len(fs))
	for _, f := range fs {
		if f.state && f.marked {
			out = append(out, blob.UploadInfo{ID: f.id, Owner: f.owner, LastActive: f.active})
		}
	}
	return out, nil
}

// ExpireUploads implements blob.UploadSweeper. A session whose marker says it is idle is
// read again and ended only if its state says so too, by a conditional write of the state:
// an append that lands meanwhile (on any replica) wins, and the session is kept.
//
// It also removes what interrupted operations left, judged by the S3 server's clock
// (LastModified, Initiated) against this machine's: folders without a live session, and
// multipart uploads nothing names (of uploads, and of Put calls cut short), once older than
// idle. Those are not counted.
func (s *Store) ExpireUploads(ctx context.Context, idle time.Duration) (int, error) {
	fs, err := s.folders(ctx)
	if err != nil {
		return 0, fmt.Errorf("expire uploads: %w", err)
	}
	cutoff := s.now().Add(-idle)
	wallCutoff := time.Now().Add(-idle)
	n := 0
	var errs []error
	for _, f := range fs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		switch {
		case f.state && f.marked && !f.active.Before(cutoff):
			continue
		case f.state:
			ended, err := s.expire(ctx, f, cutoff, wallCutoff)
			if err != nil {
				errs = append(errs, err)
			} else if ended {
				n++
			}
		case f.modified.Before(wallCutoff):
			s.removeFolder(ctx, f.id)
		}
	}
	if err := s.abortOrphanUploads(ctx, fs, wallCutoff); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// expire ends the session in f if it was last active before cutoff, and removes the
// folder of one that ended before without being removed (an interrupted clean-up) once its
// objects are older than wallCutoff. It reports whether it ended a session.
func (s *Store) expire(ctx context.Context, f *folder, cutoff, wallCutoff time.Time) (bool, error) {
	defer s.lock(f.id)()
	err := s.end(ctx, f.id, "expired", cutoff)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errNotIdle), errors.Is(err, errChanged):
		return false, nil // active meanwhile
	case errors.Is(err, blob.ErrUploadNotFound):
		if f.modified.Before(wallCutoff) {
			s.removeFolder(ctx, f.id)
		}
		return false, nil
	}
	return false, fmt.Errorf("expire upload %s: %w", f.id, err)
}

// removeFolder deletes every object of an upload folder that holds no live session.
func (s *Store) removeFolder(ctx context.Context, id string) {
	keys, err := s.listKeys(ctx, s.uploadKey(id, ""))
	if err != nil {
		return
	}
	state := s.uploadKey(id, "state")
	for _, k := range keys {
		if k.key != state {
			s.deleteKey(ctx, k.key)
		}
	}
	s.deleteKey(ctx, state)
}

// abortOrphanUploads aborts the multipart uploads under the store's prefix that were
// started before wallCutoff and that no open session names.
func (s *Store) abortOrphanUploads(ctx context.Context, fs map[string]*folder, wallCutoff time.Time) error {
	prefix := s.key("")
	uploads := s.key("uploads/")
	p := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list multipart uploads in %s: %w", s, err)
		}
		for _, u := range page.Uploads {
			key, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
			if !aws.ToTime(u.Initiated).Before(wallCutoff) {
				continue
			}
			if rest, ok := strings.CutPrefix(key, uploads); ok {
				folder, _, _ := strings.Cut(rest, "/")
				if f := fs[folder]; f != nil && f.state {
					if st, _, err := s.readSession(ctx, folder); err == nil && st.Upload == id {
						continue // the session's own
					}
				}
			} else if !strings.HasPrefix(key, s.key("blobs/")) {
				continue
			}
			s.abortMultipart(ctx, key, id)
		}
	}
	return nil
}

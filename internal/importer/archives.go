package importer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chartroom/chartroom/internal/client"
)

// archiveCopy copies one chart version whose archive (and .prov) a source can put in a
// directory: a classic repository's or a local directory's.
type archiveCopy struct {
	opts Options
	// digest is the archive's sha256 (hex) the source states before downloading, "" if
	// it states none.
	digest string
	// created is the version's date at the source; zero means none.
	created time.Time
	// fetch puts NAME-VERSION.tgz (and .prov) into dir and returns its path and sha256.
	fetch func(ctx context.Context, dir string) (path, sha string, err error)
}

// run checks the destination, fetches the archive when it must, and pushes it as helm push
// would, dated created.
func (a *archiveCopy) run(ctx context.Context, it *item, dir string) Result {
	res := Result{Name: it.name, Version: it.version, Destination: it.dest + "/" + it.name}
	if a.digest != "" {
		res.Digest = "sha256:" + a.digest
	}
	pub, err := a.opts.DestClient.ChartAt(ctx, it.dest, it.name, it.version)
	if err != nil {
		return failed(it, err)
	}
	if pub != nil && a.digest != "" {
		return compare(res, pub.Archive)
	}
	path, sha, err := a.fetch(ctx, dir)
	if err != nil {
		return failed(it, err)
	}
	res.Digest = "sha256:" + sha
	if pub != nil {
		return compare(res, pub.Archive)
	}
	// Dated by the source's created date (the registry dates the version by the manifest's
	// created annotation), or as helm push dates it.
	pushed, err := a.opts.DestClient.PushDated(ctx, path, it.dest, a.created)
	if errors.Is(err, client.ErrConflict) {
		// Pushed by someone else meanwhile, with other bytes.
		if pub, perr := a.opts.DestClient.ChartAt(ctx, it.dest, it.name, it.version); perr == nil && pub != nil {
			return compare(res, pub.Archive)
		}
	}
	if err != nil {
		return failed(it, err)
	}
	res.Status = Imported
	res.Digest = pushed.Digest
	return res
}

// compare is res's outcome when the destination already holds the version with archive
// digest have.
func compare(res Result, have string) Result {
	if have == res.Digest {
		res.Status = AlreadyPresent
		return res
	}
	res.Status = Changed
	res.DestinationDigest = have
	res.Why = fmt.Sprintf("differs from the destination: the destination holds %s %s with archive %s, the source serves %s; published versions are never overwritten (a mirror pins what it first copied)",
		res.Name, res.Version, have, res.Digest)
	return res
}

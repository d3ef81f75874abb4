package importer

import (
	"context"
)

// classicSource is a classic chart repository: its index.yaml, archives and .prov files.
type classicSource struct {
	url  string
	opts Options
	dest string
}

func (s *classicSource) list(ctx context.Context) ([]*item, error) {
	vs, err := s.opts.SourceClient.RepositoryVersions(ctx, s.url)
	if err != nil {
		return nil, err
	}
	items := make([]*item, 0, len(vs))
	for _, v := range vs {
		a := &archiveCopy{opts: s.opts, digest: v.Digest, created: v.Created,
			fetch: func(ctx context.Context, dir string) (string, string, error) {
				return s.opts.SourceClient.DownloadVersion(ctx, s.url, v, dir)
			}}
		items = append(items, &item{name: v.Name, version: v.Version, dest: s.dest, run: a.run})
	}
	return items, nil
}

package registry

import (
	"context"

	"github.com/chartroom/chartroom/internal/meta"
)

// NamespaceUsage is what a namespace holds in the registry: its repositories (a repository
// team/charts/app is in namespace team/charts), their live chart versions (quarantined ones
// included), their manifests (kept in the database) and the blobs linked to them (kept in
// the blob store), each blob counted once in a namespace however many of its repositories
// link it.
type NamespaceUsage struct {
	Namespace    string // "" for the root namespace
	Repositories int
	Versions     int
	Manifests    int
	ManifestSize int64
	Blobs        int
	BlobSize     int64
}

// StorageUsage returns the usage of every namespace that has a repository, sorted by name,
// and the registry's total, in which a blob linked in several namespaces counts once (its
// blob bytes are what the store holds for all of them: at most the namespaces' sum). Blobs
// no repository links any more (garbage collection's to delete) are in neither.
func (r *Registry) StorageUsage(ctx context.Context) ([]NamespaceUsage, NamespaceUsage, error) {
	rows, total, err := r.db.StorageUsage(ctx)
	if err != nil {
		return nil, NamespaceUsage{}, err
	}
	out := make([]NamespaceUsage, len(rows))
	for i, u := range rows {
		out[i] = usageOf(u)
	}
	return out, usageOf(total), nil
}

func usageOf(u meta.NamespaceUsage) NamespaceUsage {
	return NamespaceUsage{Namespace: u.Namespace, Repositories: u.Repositories, Versions: u.Versions,
		Manifests: u.Manifests, ManifestSize: u.ManifestSize, Blobs: u.Blobs, BlobSize: u.BlobSize}
}

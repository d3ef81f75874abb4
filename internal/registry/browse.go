package registry

import "context"

// NamespaceState is a namespace and where its charts stand.
type NamespaceState struct {
	Name string // "" for the root namespace
	IndexState
}

// Namespaces lists every namespace that ever had a chart version, sorted by name, with its
// state (a namespace whose versions were all deleted is listed too). Callers filter it by
// what their caller may read.
func (r *Registry) Namespaces(ctx context.Context) ([]NamespaceState, error) {
	ns, err := r.db.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NamespaceState, len(ns))
	for i, n := range ns {
		out[i] = NamespaceState{Name: n.Name, IndexState: indexState(n)}
	}
	return out, nil
}

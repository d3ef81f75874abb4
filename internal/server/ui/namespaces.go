package ui

import (
	"strings"
)

// namespacesPage lists the namespaces the visitor may read.
func (u *UI) namespacesPage(q *Request) error {
	nss, err := u.visible(q)
	if err != nil {
		return err
	}
	return u.render(q, "namespaces", "Namespaces", nss)
}

// chartsPage is the data of templates/charts.html: a namespace's charts, or search results.
type chartsPage struct {
	Namespace string // the namespace listed; "" for search results
	Search    bool
	Query     string
	Charts    []chartSummary
	Total     int // results before the bound
}

// maxResults bounds a list's rows: a search matching more says so and shows the first.
const maxResults = 500

// namespacePage lists a namespace's charts with their newest versions.
func (u *UI) namespacePage(q *Request) error {
	ns := strings.TrimSuffix(q.R.PathValue("ns"), "/")
	if !q.canRead(u, ns) {
		return errNotFound
	}
	st, err := u.reg.IndexState(q.R.Context(), ns)
	if err != nil {
		return err
	}
	if st.Generation == 0 {
		return errNotFound
	}
	s, err := u.browse.summary(q.R.Context(), ns, st.Generation)
	if err != nil {
		return err
	}
	return u.render(q, "charts", nsLabel(ns), chartsPage{Namespace: ns, Charts: s.charts, Total: len(s.charts)})
}

// searchPage finds charts in every namespace the visitor may read, by name, description,
// keywords and maintainers: every word of the query must occur in one of them. Name matches
// come first.
func (u *UI) searchPage(q *Request) error {
	query := strings.TrimSpace(q.R.URL.Query().Get("q"))
	if len(query) > 200 {
		return &badRequest{"The search is too long: use at most 200 characters."}
	}
	words := strings.Fields(strings.ToLower(query))
	nss, err := u.visible(q)
	if err != nil {
		return err
	}
	var byName, other []chartSummary
	for _, n := range nss {
		for _, c := range n.Charts {
			if !matches(c.search, words) {
				continue
			}
			if len(words) > 0 && strings.Contains(strings.ToLower(c.Name), words[0]) {
				byName = append(byName, c)
			} else {
				other = append(other, c)
			}
		}
	}
	res := append(byName, other...)
	p := chartsPage{Search: true, Query: query, Total: len(res)}
	if len(res) > maxResults {
		res = res[:maxResults]
	}
	p.Charts = res
	title := "Search"
	if query != "" {
		title = "Search: " + query
	}
	return u.render(q, "charts", title, p)
}

func matches(text string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

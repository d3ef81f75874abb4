package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Proxy is a proxy namespace (chartroom proxy add): the upstream it shows and the state of its
// refreshes.
type Proxy struct {
	Namespace string
	// Upstream is a classic repository's URL (of the directory of its index.yaml) or
	// oci://HOST/NS.
	Upstream string
	// Username and Password are the upstream's Basic credentials ("" none), stored as given.
	Username, Password string
	Refresh            time.Duration
	// Mirror makes every refresh also fetch every listed version.
	Mirror  bool
	Created time.Time
	// LastRefresh is the last successful refresh (zero: never); LastAttempt the last try,
	// LastError its error ("" success).
	LastRefresh, LastAttempt time.Time
	LastError                string
}

// ProxyVersion is one version of an upstream's listing.
type ProxyVersion struct {
	Name, Version string
	// Digest is the archive's digest the upstream announces ("" none).
	Digest digest.Digest
	// Source is where the archive is: a URL (classic upstream) or repository:tag (OCI).
	Source string
	// Metadata is Chart.yaml as JSON, as the upstream lists it.
	Metadata []byte
	Created  time.Time
}

// UpstreamChange is a pinned chart version whose upstream now lists or serves other bytes.
type UpstreamChange struct {
	Namespace, Name, Version string
	Pinned, Upstream         digest.Digest
}

// ErrProxyLeased means another server refreshes the proxy now.
var ErrProxyLeased = errors.New("the proxy is being refreshed by another server")

const proxyColumns = `namespace, upstream, username, password, refresh_seconds, mirror, created_at, last_refresh, last_attempt, last_error`

func scanProxy(row interface{ Scan(...any) error }) (*Proxy, error) {
	p := &Proxy{}
	var refresh, created int64
	var last, attempt sql.NullInt64
	if err := row.Scan(&p.Namespace, &p.Upstream, &p.Username, &p.Password, &refresh, &p.Mirror, &created, &last, &attempt, &p.LastError); err != nil {
		return nil, err
	}
	p.Refresh = time.Duration(refresh) * time.Second
	p.Created = time.Unix(0, created).UTC()
	if last.Valid {
		p.LastRefresh = time.Unix(0, last.Int64).UTC()
	}
	if attempt.Valid {
		p.LastAttempt = time.Unix(0, attempt.Int64).UTC()
	}
	return p, nil
}

// PutProxy makes p.Namespace a proxy of p.Upstream, or changes its settings (its listing and
// refresh record are kept when the upstream stays the same), with an audit record.
func (db *DB) PutProxy(ctx context.Context, p Proxy, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT upstream FROM proxies WHERE namespace = ?`, p.Namespace).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO proxies (namespace, upstream, username, password, refresh_seconds, mirror, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Namespace, p.Upstream, p.Username, p.Password, int64(p.Refresh/time.Second), p.Mirror, db.now().UnixNano())
		case err == nil:
			reset := old != p.Upstream
			_, err = tx.ExecContext(ctx, `UPDATE proxies SET upstream = ?, username = ?, password = ?, refresh_seconds = ?, mirror = ? WHERE namespace = ?`,
				p.Upstream, p.Username, p.Password, int64(p.Refresh/time.Second), p.Mirror, p.Namespace)
			if err == nil && reset {
				if _, err = tx.ExecContext(ctx, `DELETE FROM proxy_versions WHERE namespace = ?`, p.Namespace); err == nil {
					_, err = tx.ExecContext(ctx, `UPDATE proxies SET last_refresh = NULL, last_attempt = NULL, last_error = '' WHERE namespace = ?`, p.Namespace)
				}
			}
		}
		if err != nil {
			return err
		}
		if err := db.raiseGeneration(ctx, tx, p.Namespace); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("proxy %q: %w", p.Namespace, err)
	}
	return nil
}

// RemoveProxy makes ns an ordinary namespace again (the versions fetched stay), with an audit
// record. ErrNotFound when ns is no proxy.
func (db *DB) RemoveProxy(ctx context.Context, ns string, audit *AuditRecord) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM proxy_versions WHERE namespace = ?`, ns); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM proxies WHERE namespace = ?`, ns)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if err := db.raiseGeneration(ctx, tx, ns); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return fmt.Errorf("proxy %q: %w", ns, err)
	}
	return nil
}

// GetProxy returns the proxy of namespace ns, ErrNotFound when ns is no proxy.
func (db *DB) GetProxy(ctx context.Context, ns string) (*Proxy, error) {
	p, err := scanProxy(db.r.QueryRowContext(ctx, `SELECT `+proxyColumns+` FROM proxies WHERE namespace = ?`, ns))
	if err != nil {
		return nil, fmt.Errorf("proxy %q: %w", ns, notFound(err))
	}
	return p, nil
}

// Proxies lists every proxy namespace, by namespace.
func (db *DB) Proxies(ctx context.Context) ([]Proxy, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+proxyColumns+` FROM proxies ORDER BY namespace`)
	if err != nil {
		return nil, fmt.Errorf("proxies: %w", err)
	}
	defer rows.Close()
	var out []Proxy
	for rows.Next() {
		p, err := scanProxy(rows)
		if err != nil {
			return nil, fmt.Errorf("proxies: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// AcquireProxyLease gives holder the right to refresh ns until ttl from now, when its refresh
// is due (never attempted, or its last attempt at least its refresh interval ago; force: in
// any case) and no other holder's lease runs. ErrProxyLeased when another holds it, ErrNotFound
// when ns is no proxy, and (false, nil) when the refresh is not due.
func (db *DB) AcquireProxyLease(ctx context.Context, ns, holder string, ttl time.Duration, force bool) (bool, error) {
	now := db.now().UnixNano()
	var got bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var lholder string
		var until, refresh int64
		var attempt sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT lease_holder, lease_until, refresh_seconds, last_attempt FROM proxies WHERE namespace = ?`, ns).
			Scan(&lholder, &until, &refresh, &attempt)
		if err != nil {
			return notFound(err)
		}
		if lholder != "" && lholder != holder && until >= now {
			return ErrProxyLeased
		}
		if !force && attempt.Valid && now-attempt.Int64 < refresh*int64(time.Second) {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE proxies SET lease_holder = ?, lease_until = ? WHERE namespace = ?`, holder, now+int64(ttl), ns)
		got = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("proxy %q lease: %w", ns, err)
	}
	return got, nil
}

// FinishProxyRefresh records a refresh by holder and ends its lease: with listing non-nil (a
// success) the stored listing becomes listing (the namespace's generation rises when it
// changed); with refreshErr non-empty only the failure is recorded and the old listing stays.
func (db *DB) FinishProxyRefresh(ctx context.Context, ns, holder string, listing []ProxyVersion, refreshErr string) error {
	now := db.now().UnixNano()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if refreshErr != "" {
			_, err := tx.ExecContext(ctx, `UPDATE proxies SET last_attempt = ?, last_error = ?, lease_holder = '', lease_until = 0
				WHERE namespace = ? AND lease_holder = ?`, now, refreshErr, ns, holder)
			return err
		}
		old, err := listProxyVersions(ctx, tx, ns)
		if err != nil {
			return err
		}
		changed := len(old) != len(listing)
		seen := make(map[[2]string]bool, len(listing))
		for _, v := range listing {
			key := [2]string{v.Name, v.Version}
			if seen[key] {
				continue
			}
			seen[key] = true
			if o, ok := old[key]; ok && o.Digest == v.Digest && o.Source == v.Source && string(o.Metadata) == string(v.Metadata) && o.Created.Equal(v.Created) {
				continue
			}
			changed = true
			if _, err := tx.ExecContext(ctx, `INSERT INTO proxy_versions (namespace, name, version, digest, source, metadata, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, name, version) DO UPDATE SET digest = excluded.digest,
				source = excluded.source, metadata = excluded.metadata, created_at = excluded.created_at`,
				ns, v.Name, v.Version, v.Digest.String(), v.Source, string(v.Metadata), v.Created.UnixNano()); err != nil {
				return err
			}
		}
		for key := range old {
			if !seen[key] {
				if _, err := tx.ExecContext(ctx, `DELETE FROM proxy_versions WHERE namespace = ? AND name = ? AND version = ?`, ns, key[0], key[1]); err != nil {
					return err
				}
			}
		}
		if changed {
			if err := db.raiseGeneration(ctx, tx, ns); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE proxies SET last_refresh = ?, last_attempt = ?, last_error = '', lease_holder = '', lease_until = 0
			WHERE namespace = ?`, now, now, ns)
		return err
	})
	if err != nil {
		return fmt.Errorf("proxy %q refresh: %w", ns, err)
	}
	return nil
}

// ProxyVersions returns the upstream listing stored for ns, by name and version.
func (db *DB) ProxyVersions(ctx context.Context, ns string) (map[[2]string]ProxyVersion, error) {
	tx, err := db.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("proxy %q listing: %w", ns, err)
	}
	defer tx.Rollback()
	return listProxyVersions(ctx, tx, ns)
}

// GetProxyVersion returns one version of ns's upstream listing, ErrNotFound when not listed.
func (db *DB) GetProxyVersion(ctx context.Context, ns, name, version string) (*ProxyVersion, error) {
	v := &ProxyVersion{Name: name, Version: version}
	var metadata string
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT digest, source, metadata, created_at FROM proxy_versions WHERE namespace = ? AND name = ? AND version = ?`,
		ns, name, version).Scan(&v.Digest, &v.Source, &metadata, &created)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: %s %s: %w", ns, name, version, notFound(err))
	}
	v.Metadata, v.Created = []byte(metadata), time.Unix(0, created).UTC()
	return v, nil
}

func listProxyVersions(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ns string) (map[[2]string]ProxyVersion, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, version, digest, source, metadata, created_at FROM proxy_versions WHERE namespace = ?`, ns)
	if err != nil {
		return nil, fmt.Errorf("proxy %q listing: %w", ns, err)
	}
	defer rows.Close()
	out := map[[2]string]ProxyVersion{}
	for rows.Next() {
		var v ProxyVersion
		var metadata string
		var created int64
		if err := rows.Scan(&v.Name, &v.Version, &v.Digest, &v.Source, &metadata, &created); err != nil {
			return nil, fmt.Errorf("proxy %q listing: %w", ns, err)
		}
		v.Metadata, v.Created = []byte(metadata), time.Unix(0, created).UTC()
		out[[2]string{v.Name, v.Version}] = v
	}
	return out, rows.Err()
}

// MarkUpstreamChanged records that the upstream lists or serves upstream under a pinned chart
// version of ns: the version's mark is set (its index entries are rewritten as given, and the
// namespace's generation rises) and audited, once per upstream digest. It reports whether the
// mark changed.
func (db *DB) MarkUpstreamChanged(ctx context.Context, c ChartVersion, upstream digest.Digest, audit *AuditRecord) (bool, error) {
	var changed bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var repoID int64
		err := tx.QueryRowContext(ctx, `UPDATE chart_versions SET upstream_changed = ?, index_yaml = ?, index_json = ?
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND version = ? AND upstream_changed <> ?
			RETURNING repository_id`, upstream.String(), nonNil(c.IndexYAML), nonNil(c.IndexJSON), c.Repository, c.Version, upstream.String()).Scan(&repoID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		changed = true
		if err := db.markChanged(ctx, tx, repoID, c.Namespace, c.Version); err != nil {
			return err
		}
		return db.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return false, fmt.Errorf("mark %s %s upstream-changed: %w", c.Repository, c.Version, err)
	}
	return changed, nil
}

// UpstreamChanges lists the chart versions of ns (every proxy namespace when ns is nil) whose
// upstream changed under them.
func (db *DB) UpstreamChanges(ctx context.Context, ns *string) ([]UpstreamChange, error) {
	query := `SELECT namespace, name, version, chart_digest, upstream_changed FROM chart_versions WHERE upstream_changed <> ''`
	var args []any
	if ns != nil {
		query += ` AND namespace = ?`
		args = append(args, *ns)
	}
	rows, err := db.r.QueryContext(ctx, query+` ORDER BY namespace, name, version`, args...)
	if err != nil {
		return nil, fmt.Errorf("upstream changes: %w", err)
	}
	defer rows.Close()
	var out []UpstreamChange
	for rows.Next() {
		var c UpstreamChange
		if err := rows.Scan(&c.Namespace, &c.Name, &c.Version, &c.Pinned, &c.Upstream); err != nil {
			return nil, fmt.Errorf("upstream changes: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// raiseGeneration raises ns's generation without a chart version changing (a proxy's listing
// did), so that cached indexes are built again.
func (db *DB) raiseGeneration(ctx context.Context, tx *sql.Tx, ns string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO namespaces (name, generation, updated_at) VALUES (?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET generation = namespaces.generation + 1, updated_at = excluded.updated_at`,
		ns, db.now().UnixNano())
	return err
}

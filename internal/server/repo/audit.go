package repo

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// The audit log, for global admins (role admin on "*"):
//
//	GET /api/_/audit[?since=…][&until=…][&repo=…][&user=…][&denied=true][&limit=N][&before=ID]
//
// answers {"records": [...], "next": "<the URL of the next, older page>"}, newest first. since
// and until are RFC 3339 times or durations back from now (24h); repo is a repository or
// namespace, or <prefix>/* for everything under prefix; limit is at most maxAuditLimit. The
// path cannot name a namespace: "_" is no name component.

// auditSegment is the path component under /api/ that holds the server's own API.
const auditSegment = "_"

// maxAuditLimit bounds one page of the audit log.
const maxAuditLimit = 1000

// auditRecordJSON is one record as the API answers it.
type auditRecordJSON struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	User       string    `json:"user"`
	Token      string    `json:"token,omitempty"`
	Address    string    `json:"address"`
	Action     string    `json:"action"`
	Repository string    `json:"repository,omitempty"`
	Version    string    `json:"version,omitempty"`
	Digest     string    `json:"digest,omitempty"`
	Outcome    string    `json:"outcome"`
	Detail     string    `json:"detail,omitempty"`
	Count      int       `json:"count"`
}

// AuditJSON is a record as the API and chartroom audit -o json write it.
func AuditJSON(r auth.AuditRecord) any {
	return auditRecordJSON{ID: r.ID, Time: r.At, User: r.Actor, Token: r.TokenID, Address: r.Address, Action: r.Action,
		Repository: r.Repository, Version: r.Version, Digest: r.Digest, Outcome: r.Outcome, Detail: r.Detail, Count: r.Count}
}

// getAudit serves GET /api/_/audit.
func (h *handler) getAudit(w http.ResponseWriter, r *http.Request, _ target) error {
	q, err := ParseAuditQuery(r.URL.Query().Get, time.Now())
	if err != nil {
		return badRequest("%v", err)
	}
	if q.Limit > maxAuditLimit {
		return badRequest("limit=%d: at most %d records a page; page on with before=", q.Limit, maxAuditLimit)
	}
	recs, err := h.authz.AuditLog(r.Context(), q)
	if err != nil {
		return err
	}
	out := struct {
		Records []any  `json:"records"`
		Next    string `json:"next,omitempty"`
	}{Records: []any{}}
	for _, rec := range recs {
		out.Records = append(out.Records, AuditJSON(rec))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = auth.DefaultAuditLimit
	}
	if len(recs) == limit {
		next := r.URL.Query()
		next.Set("before", strconv.FormatInt(recs[len(recs)-1].ID, 10))
		out.Next = "/api/" + auditSegment + "/audit?" + next.Encode()
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.ContentTypeJSON, out)
	return nil
}

// ParseAuditQuery reads the parameters of the audit log (see getAudit; also chartroom
// audit's flags) from get.
func ParseAuditQuery(get func(string) string, now time.Time) (auth.AuditQuery, error) {
	var q auth.AuditQuery
	var err error
	if q.Since, err = parseWhen("since", get("since"), now); err != nil {
		return q, err
	}
	if q.Until, err = parseWhen("until", get("until"), now); err != nil {
		return q, err
	}
	q.Repository, q.Actor = get("repo"), get("user")
	if s := get("denied"); s != "" {
		if q.Denied, err = strconv.ParseBool(s); err != nil {
			return q, fmt.Errorf("denied=%q: expected true or false", s)
		}
	}
	if s := get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit <= 0 {
			return q, fmt.Errorf("limit=%q: expected a number of records above 0", s)
		}
	}
	if s := get("before"); s != "" {
		if q.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || q.BeforeID <= 0 {
			return q, fmt.Errorf("before=%q: expected a record id (the next link of the previous page)", s)
		}
	}
	return q, nil
}

// parseWhen reads a time: RFC 3339 (2025-01-31T12:00:00Z), a date (2025-01-31, UTC) or a
// duration back from now (24h, 90m).
func parseWhen(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s=%q: expected a time (2025-01-31T12:00:00Z, 2025-01-31) or a duration back from now (24h)", name, s)
}

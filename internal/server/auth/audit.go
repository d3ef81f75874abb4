package auth

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

// The audit log records every write and every refused request (meta.AuditRecord). The
// server's records are collected in memory and written in one transaction every
// auditFlushEvery (and when the server stops), so that auditing costs no database write per
// request; a process killed outright loses at most the records of that last moment.
// Refusals alike (same caller, address, action, repository, outcome) that come in one batch
// are one record with their count, so a client retrying in a loop, or a scanner, writes one
// row per batch, not one per request. While more than maxPendingAudit records wait (the
// database is stuck), refusals are dropped, counted (Stats.AuditDropped) and logged; writes
// are always kept.

// AuditRecord is an entry of the audit log.
type AuditRecord = meta.AuditRecord

// AuditQuery selects entries of the audit log.
type AuditQuery = meta.AuditQuery

// DefaultAuditLimit is how many records an AuditQuery without Limit selects.
const DefaultAuditLimit = meta.DefaultAuditLimit

// Claimed returns the user and token id a request's credentials claim, unverified: what the
// audit log records of a request whose credentials were refused (never the password).
func Claimed(r *http.Request) (user, tokenID string) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", ""
	}
	if id, _, isToken := parseToken(pass); isToken {
		tokenID = id
	}
	return user, tokenID
}

// Outcomes of requests in the audit log.
const (
	OutcomeOK              = "ok"
	OutcomeUnauthenticated = "unauthorized"
	OutcomeDenied          = "denied"
	OutcomeHidden          = "hidden"
	OutcomeThrottled       = "throttled"
)

const (
	auditFlushEvery = 250 * time.Millisecond
	maxPendingAudit = 100000
	// touchEvery is how often tokens' last-use times are written.
	touchEvery = time.Minute
)

// DefaultAuditRetention is how long audit records are kept when Options.AuditRetention is 0.
const DefaultAuditRetention = 90 * 24 * time.Hour

// auditBuffer holds the records not written yet.
type auditBuffer struct {
	mu      sync.Mutex
	recs    []meta.AuditRecord
	merge   map[auditKey]int // index in recs of a refusal others merge into
	dropped int64
	flushMu sync.Mutex // one flush at a time, so records are written in order
}

type auditKey struct {
	actor, token, address, action, repository, version, digest, outcome string
}

// Audit records rec (At is set to now when zero). It does not wait for the database.
func (s *Service) Audit(rec AuditRecord) {
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	rec.Count = max(rec.Count, 1)
	b := &s.audit
	b.mu.Lock()
	defer b.mu.Unlock()
	refused := slices.Contains(meta.DeniedOutcomes, rec.Outcome)
	if refused {
		k := auditKey{rec.Actor, rec.TokenID, rec.Address, rec.Action, rec.Repository, rec.Version, rec.Digest, rec.Outcome}
		if i, ok := b.merge[k]; ok {
			b.recs[i].Count += rec.Count
			return
		}
		if len(b.recs) >= maxPendingAudit {
			b.dropped += int64(rec.Count)
			return
		}
		if b.merge == nil {
			b.merge = map[auditKey]int{}
		}
		b.merge[k] = len(b.recs)
	}
	b.recs = append(b.recs, rec)
}

// FlushAudit writes the records collected so far (and the tokens' last-use times).
func (s *Service) FlushAudit(ctx context.Context) error {
	b := &s.audit
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	recs, dropped := b.recs, b.dropped
	b.recs, b.merge, b.dropped = nil, nil, 0
	b.mu.Unlock()
	if dropped > 0 {
		s.auditDropped.Add(dropped)
		s.log.Error("audit: refused requests were not recorded: too many records were waiting for the database", "dropped", dropped)
	}
	if err := s.db.AppendAudit(ctx, recs); err != nil {
		// Put them back in front, to be tried again.
		b.mu.Lock()
		b.recs = append(recs, b.recs...)
		b.merge = nil
		b.mu.Unlock()
		return err
	}
	return nil
}

// Run writes the audit log and tokens' last-use times in the background, and removes audit
// records older than Options.AuditRetention (hourly), until ctx ends; then it writes what is
// left. Requests are served without it, their records then waiting in memory.
func (s *Service) Run(ctx context.Context) {
	flush := time.NewTicker(auditFlushEvery)
	defer flush.Stop()
	touch := time.NewTicker(touchEvery)
	defer touch.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	s.pruneAudit(ctx)
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			s.Flush(final)
			cancel()
			return
		case <-flush.C:
			if err := s.FlushAudit(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("audit: writing the audit log failed; trying again", "err", err)
			}
		case <-touch.C:
			if err := s.flushTouched(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("auth: recording when tokens were last used failed", "err", err)
			}
		case <-prune.C:
			s.pruneAudit(ctx)
		}
	}
}

// Flush writes everything waiting: audit records and tokens' last-use times.
func (s *Service) Flush(ctx context.Context) {
	if err := s.FlushAudit(ctx); err != nil {
		s.log.Error("audit: writing the audit log failed", "err", err)
	}
	if err := s.flushTouched(ctx); err != nil {
		s.log.Warn("auth: recording when tokens were last used failed", "err", err)
	}
}

func (s *Service) pruneAudit(ctx context.Context) {
	if s.opts.AuditRetention < 0 {
		return
	}
	n, err := s.db.PruneAudit(ctx, time.Now().Add(-s.opts.AuditRetention))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("audit: removing old records failed", "err", err)
	case n > 0:
		s.log.Info("audit: removed old records", "count", n, "older_than", s.opts.AuditRetention.String())
	}
}

// touched notes that a token was used now; written every touchEvery.
func (s *Service) touched(id string, now time.Time) {
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if s.touch == nil {
		s.touch = map[string]time.Time{}
	}
	s.touch[id] = now
}

func (s *Service) flushTouched(ctx context.Context) error {
	s.touchMu.Lock()
	used := s.touch
	s.touch = nil
	s.touchMu.Unlock()
	return s.db.TouchTokens(ctx, used)
}

// AuditLog returns the audit records q selects, newest first, after writing those waiting.
func (s *Service) AuditLog(ctx context.Context, q meta.AuditQuery) ([]meta.AuditRecord, error) {
	if err := s.FlushAudit(ctx); err != nil {
		return nil, err
	}
	return s.db.Audit(ctx, q)
}

// Address is the client address the audit log records for a request: the peer's IP (behind
// a reverse proxy, the proxy's).
func Address(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// OutcomeOf is the audit outcome of an error from Authorize or Check.
func OutcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case isThrottled(err):
		return OutcomeThrottled
	case isHidden(err):
		return OutcomeHidden
	case isUnauthenticated(err):
		return OutcomeUnauthenticated
	case isForbidden(err):
		return OutcomeDenied
	}
	return ""
}

package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

// Defaults of Options.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultRetryMin    = 10 * time.Second
	DefaultRetryMax    = time.Hour
	DefaultMaxAttempts = 30
	DefaultGiveUpAfter = 24 * time.Hour
	DefaultConcurrency = 8
	// DefaultKeep is how long finished deliveries stay listed before they are removed.
	DefaultKeep = 30 * 24 * time.Hour
)

// maxPoll bounds the time between two looks at the queue: deliveries due for a retry, and
// those queued by other processes, go out at most this late.
const maxPoll = time.Second

// pruneEvery is how often finished deliveries older than Options.Keep are removed.
const pruneEvery = time.Hour

// Options tune a Sender. The zero value of each field is its documented default.
type Options struct {
	// BaseURL is where clients reach the server, e.g. https://charts.example.com: the
	// payloads' pull URLs are built on it.
	BaseURL string
	// Timeout bounds one attempt: connecting, sending, and the answer's status and headers;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// RetryMin is the wait before the first retry of a failed delivery, doubled for each next
	// one up to RetryMax; 0 means DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// MaxAttempts: a delivery fails for good after this many attempts; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// GiveUpAfter: a delivery fails for good when an attempt fails this long after it was
	// queued (or redelivered); 0 means DefaultGiveUpAfter.
	GiveUpAfter time.Duration
	// Concurrency bounds the deliveries in flight at once (each to another webhook); 0 means
	// DefaultConcurrency.
	Concurrency int
	// Keep is how long finished deliveries stay listed; 0 means DefaultKeep.
	Keep time.Duration
	// UserAgent is sent with each delivery; "" means "chartroom".
	UserAgent string
	// Logger receives a line per failed attempt (and per success at debug level); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Queue is what a Sender needs of the database (*meta.DB).
type Queue interface {
	ClaimDeliveries(ctx context.Context, owner string, lease time.Duration, n int) ([]meta.Claim, error)
	FinishAttempt(ctx context.Context, id int64, owner string, o meta.DeliveryOutcome) error
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
	Queued() <-chan struct{}
}

var _ Queue = (*meta.DB)(nil)

// Sender sends the queued deliveries.
type Sender struct {
	q      Queue
	opts   Options
	log    *slog.Logger
	client *client
	owner  string        // this sender's name in the claims it takes
	lease  time.Duration // how long a claim holds: well beyond an attempt
}

// New builds a sender over the queue q.
func New(q Queue, opts Options) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = DefaultRetryMin
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryMin)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = DefaultGiveUpAfter
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "chartroom"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, _ := os.Hostname()
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	return &Sender{
		q: q, opts: opts, log: opts.Logger,
		client: newClient(opts.Timeout, opts.UserAgent),
		owner:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(nonce[:])),
		lease:  2*opts.Timeout + 30*time.Second,
	}
}

// Options returns the options in effect (defaults filled in).
func (s *Sender) Options() Options { return s.opts }

// Backoff is the wait after the attempt-th failed attempt (1 for the first): RetryMin,
// doubled for each further attempt, at most RetryMax.
func (s *Sender) Backoff(attempt int) time.Duration {
	d := s.opts.RetryMin
	for i := 1; i < attempt && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.opts.RetryMax)
}

// Run sends deliveries until ctx ends, then waits for the attempts in flight to finish and
// be recorded (each within Options.Timeout), so that a delivery a receiver acknowledged
// during a shutdown is not sent again.
func (s *Sender) Run(ctx context.Context) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight int
	)
	done := make(chan struct{}, 1) // an attempt finished: its webhook's next delivery may go
	poll := min(s.opts.RetryMin, maxPoll)
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastPrune := time.Time{}
	for {
		if time.Since(lastPrune) >= pruneEvery {
			lastPrune = time.Now()
			s.prune(ctx)
		}
		mu.Lock()
		free := s.opts.Concurrency - inFlight
		mu.Unlock()
		claims, err := s.q.ClaimDeliveries(ctx, s.owner, s.lease, free)
		if err != nil && ctx.Err() == nil {
			s.log.Error("webhooks: reading the delivery queue failed; trying again", "err", err)
		}
		for _, c := range claims {
			mu.Lock()
			inFlight++
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.attempt(context.WithoutCancel(ctx), c)
				mu.Lock()
				inFlight--
				mu.Unlock()
				select {
				case done <- struct{}{}:
				default:
				}
			}()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-s.q.Queued():
		case <-done:
		case <-timer.C:
		}
	}
}

// attempt sends one claimed delivery and records the outcome.
func (s *Sender) attempt(ctx context.Context, c meta.Claim) {
	out := s.client.send(ctx, c, s.opts.BaseURL)
	attempts := c.Attempts + 1
	log := s.log.With("webhook", c.Webhook.ID, "delivery", c.ID, "event", c.Event.Type, "event_id", c.Event.ID,
		"repository", c.Event.Repository, "attempt", attempts)
	switch {
	case out.Succeeded:
		log.Debug("webhook delivered", "status", out.Status)
	case attempts >= s.opts.MaxAttempts || time.Since(c.Started) >= s.opts.GiveUpAfter:
		log.Warn("webhook delivery failed for good; the webhook's next delivery goes ahead (chartroom webhook redeliver sends it again)",
			"status", out.Status, "err", out.Error)
	default:
		out.RetryAt = time.Now().Add(s.Backoff(attempts))
		log.Warn("webhook delivery failed; retrying", "status", out.Status, "err", out.Error, "retry_at", out.RetryAt.UTC().Format(time.RFC3339))
	}
	// The record must outlive a shutdown, as the attempt did.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.q.FinishAttempt(rctx, c.ID, s.owner, out); err != nil {
		if errors.Is(err, meta.ErrLeaseLost) {
			log.Warn("webhook delivery was taken over or its webhook deleted while it was sent", "err", err)
			return
		}
		log.Error("recording a webhook delivery failed; it will be sent again", "err", err)
	}
}

func (s *Sender) prune(ctx context.Context) {
	n, err := s.q.PruneDeliveries(ctx, time.Now().Add(-s.opts.Keep))
	if err != nil && ctx.Err() == nil {
		s.log.Error("webhooks: removing old deliveries failed", "err", err)
	}
	if n > 0 {
		s.log.Info("webhooks: removed finished deliveries", "count", n, "older_than", s.opts.Keep.String())
	}
}

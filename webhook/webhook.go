// Package webhook records grantd's events and delivers them to webhook
// URLs: at least once, signed, retried with backoff.
//
// # Delivery
//
// Each event is POSTed as JSON to every configured URL with these headers:
//
//	Content-Type:     application/json
//	Grantd-Event-Id:  ev_…   (the idempotency id: the same on every retry)
//	Grantd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// A 2xx answer completes a delivery; anything else, or no answer in 10 s,
// is retried with exponential backoff and jitter (1 s doubling to 1 h) for
// up to MaxAttempts (default 20, about a day). Deliveries are queued in the
// store in the same transaction as their event and claimed with a lease,
// so a crash or a second replica delivers them again rather than losing
// them: receivers must deduplicate by Grantd-Event-Id.
//
// Receivers verify with Verify (or the same computation): recompute the
// HMAC over "<t>.<body>", compare in constant time, and reject old t.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/outbound"
)

// Header names.
const (
	HeaderEventID   = "Grantd-Event-Id"
	HeaderSignature = "Grantd-Signature"
)

// Store is what a Dispatcher needs of a store: the event log it appends
// to (which queues the deliveries, see datasource.EventLog), reading an
// event back for its delivery, and the outbox it delivers from. The
// datasource/bolt and datasource/etcd stores are one.
type Store interface {
	AppendEvents(ctx context.Context, events []*datasource.Event, deliverTo []string) error
	Event(ctx context.Context, id string) (*datasource.Event, error)
	datasource.Outbox
}

// Config configures New.
type Config struct {
	// Store keeps events and pending deliveries.
	Store Store
	// URLs receive every event; none means events are only recorded.
	URLs []string
	// Secret signs deliveries. Required when URLs are set.
	Secret []byte
	// Dialer guards outgoing connections; default refuses private addresses.
	Dialer *outbound.Dialer
	// MaxAttempts per delivery; default 20.
	MaxAttempts int
	// Backoff is the wait before attempt n+1; default Backoff.
	Backoff func(attempts int) time.Duration
	Logger  *slog.Logger
	// Clock times events, signatures and retries; default the system
	// clock.
	Clock Clock
}

// Clock tells the time and waits. The dispatcher takes one so that tests
// move time forward instead of sleeping.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed; at once
	// when d <= 0.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Dispatcher records events and delivers them. Publish is safe for
// concurrent use; Start runs the delivery loop until Close.
type Dispatcher struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger

	queue  chan *datasource.Event // published, not yet stored
	wake   chan struct{}          // a delivery may be due
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a dispatcher; call Start to run it.
func New(cfg Config) (*Dispatcher, error) {
	if len(cfg.URLs) > 0 && len(cfg.Secret) < 16 {
		return nil, errors.New("webhook: a signing secret of at least 16 bytes is required with webhook URLs")
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Backoff
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &outbound.Dialer{}
	}
	t, err := outbound.NewTransport(outbound.TransportOptions{Dialer: cfg.Dialer, ResponseHeaderTimeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{
		cfg:    cfg,
		client: &http.Client{Transport: t, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		log:    cfg.Logger,
		queue:  make(chan *datasource.Event, 4096),
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

// Publish records e (filling ID and Time when empty) and queues its
// deliveries. It does not wait for the store: events are written in
// batches by the dispatcher's writer, so a burst of status changes (a
// refresh storm) costs one transaction, not one each. It blocks only when
// thousands of events are waiting to be written.
func (d *Dispatcher) Publish(e *datasource.Event) {
	if e.Time.IsZero() {
		e.Time = d.cfg.Clock.Now().UTC()
	}
	if e.ID == "" {
		e.ID = datasource.NewEventID(e.Time)
	}
	select {
	case d.queue <- e:
	case <-d.ctx.Done():
	}
}

// Start runs the writer and the delivery loop.
func (d *Dispatcher) Start() {
	d.wg.Add(2)
	go d.writer()
	go d.deliverer()
}

// Close stops the dispatcher after writing the events already published.
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}

func (d *Dispatcher) writer() {
	defer d.wg.Done()
	for {
		var batch []*datasource.Event
		select {
		case e := <-d.queue:
			batch = append(batch, e)
		case <-d.ctx.Done():
			// Drain what was published before Close.
			for {
				select {
				case e := <-d.queue:
					batch = append(batch, e)
				default:
					d.store(batch)
					return
				}
			}
		}
	more:
		for len(batch) < 1024 {
			select {
			case e := <-d.queue:
				batch = append(batch, e)
			default:
				break more
			}
		}
		d.store(batch)
	}
}

func (d *Dispatcher) store(batch []*datasource.Event) {
	if len(batch) == 0 {
		return
	}
	// The write outlives Close's cancel: events already published are kept.
	if err := d.cfg.Store.AppendEvents(context.Background(), batch, d.cfg.URLs); err != nil {
		d.log.Error("recording events failed", "events", len(batch), "err", err)
		return
	}
	if len(d.cfg.URLs) > 0 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// deliverer sends due deliveries and sleeps until the next one is due or
// a new event arrives.
func (d *Dispatcher) deliverer() {
	defer d.wg.Done()
	if len(d.cfg.URLs) == 0 {
		return
	}
	due := d.cfg.Clock.After(0)
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-due:
		case <-d.wake:
		}
		now := d.cfg.Clock.Now()
		claimed, err := d.cfg.Store.DueDeliveries(d.ctx, now, time.Minute, 64)
		if err != nil {
			d.log.Warn("reading due webhook deliveries failed", "err", err)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, dl := range claimed {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				d.attempt(dl)
			}()
		}
		wg.Wait()
		if len(claimed) == 64 {
			due = d.cfg.Clock.After(0)
			continue
		}
		wait := time.Hour
		if at, ok, err := d.cfg.Store.NextDelivery(d.ctx); err == nil && ok {
			wait = max(at.Sub(d.cfg.Clock.Now()), 10*time.Millisecond)
		}
		due = d.cfg.Clock.After(wait)
	}
}

func (d *Dispatcher) attempt(dl *datasource.Delivery) {
	ctx := d.ctx
	e, err := d.cfg.Store.Event(ctx, dl.EventID)
	if err != nil {
		// The event aged out of the log before it could be delivered.
		d.log.Warn("dropping a webhook delivery whose event is gone", "event", dl.EventID, "url", redactURL(dl.URL))
		d.finish(ctx, dl)
		return
	}
	body, _ := json.Marshal(e)
	err = d.send(ctx, dl.URL, e.ID, body)
	if err == nil {
		d.finish(ctx, dl)
		d.log.Debug("webhook delivered", "event", e.ID, "type", e.Type, "url", redactURL(dl.URL), "attempts", dl.Attempts+1)
		return
	}
	dl.Attempts++
	dl.LastError = err.Error()
	if dl.Attempts >= d.cfg.MaxAttempts {
		d.log.Error("webhook delivery abandoned", "event", e.ID, "url", redactURL(dl.URL), "attempts", dl.Attempts, "err", err)
		d.finish(ctx, dl)
		return
	}
	dl.NextAt = d.cfg.Clock.Now().Add(d.cfg.Backoff(dl.Attempts))
	d.log.Warn("webhook delivery failed, will retry", "event", e.ID, "url", redactURL(dl.URL), "attempts", dl.Attempts, "next", dl.NextAt, "err", err)
	if err := d.cfg.Store.RetryDelivery(ctx, dl); err != nil {
		// The lease runs out and the delivery is tried again sooner than
		// planned: at least once still holds.
		d.log.Warn("recording a webhook retry failed", "event", e.ID, "url", redactURL(dl.URL), "err", err)
	}
}

// finish removes a delivery that is done (delivered, abandoned, or whose
// event is gone). A store that fails here leaves it leased: it is sent
// again when the lease runs out, which receivers deduplicate on
// Grantd-Event-Id.
func (d *Dispatcher) finish(ctx context.Context, dl *datasource.Delivery) {
	if err := d.cfg.Store.FinishDelivery(ctx, dl); err != nil {
		d.log.Warn("finishing a webhook delivery failed; it will be sent again", "event", dl.EventID, "url", redactURL(dl.URL), "err", err)
	}
}

func (d *Dispatcher) send(ctx context.Context, url, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "grantd-webhook/1")
	req.Header.Set(HeaderEventID, id)
	req.Header.Set(HeaderSignature, Sign(d.cfg.Secret, d.cfg.Clock.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrForbiddenAddress) {
			return errors.New("the webhook URL resolves to a private or loopback address")
		}
		return errors.New("no answer: " + strings.TrimPrefix(errors.Unwrap(err).Error(), "dial tcp "))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// Backoff is the wait before attempt n+1: 1 s doubling up to an hour, with
// jitter in [d/2, d].
func Backoff(attempts int) time.Duration {
	d := min(time.Second<<min(attempts-1, 20), time.Hour)
	return d/2 + rand.N(d/2+1)
}

// Sign returns the Grantd-Signature header value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrSignature is returned by Verify for a missing, malformed, wrong or
// stale signature.
var ErrSignature = errors.New("webhook: bad signature")

// Verify checks a Grantd-Signature header against body, as a receiver
// would: the HMAC must match (compared in constant time) and t must be
// within tolerance of now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(n, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrSignature)
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return ErrSignature
	}
	return nil
}

// redactURL keeps only a URL's origin for logs: webhook URLs often carry
// a token in their path (Slack's do) or query.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexAny(u[i+3:], "/?#"); j >= 0 {
			return u[:i+3+j] + "/…"
		}
	}
	return u
}

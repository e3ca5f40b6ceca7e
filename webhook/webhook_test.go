package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/grants/grantstest"
	"github.com/grantd/grantd/internal/testlog"
	"github.com/grantd/grantd/outbound"
)

var secret = []byte("webhook-signing-secret-0123456789")

// fakeClock is grantstest's clock with the After a Dispatcher waits on.
// Every wait the dispatcher starts is reported on waits: it is then idle,
// and the test moves time by the wait instead of sleeping.
type fakeClock struct {
	*grantstest.Clock
	waits chan time.Duration
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{Clock: grantstest.NewClock(t), waits: make(chan time.Duration, 100)}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := c.NewTimer(d).C()
	select {
	case c.waits <- d:
	default: // nobody is driving this clock
	}
	return ch
}

// deliverAll moves clk through the dispatcher's waits until rcv has
// received want deliveries and out holds none pending (the dispatcher
// reads the receiver's answer and finishes the delivery before it waits
// again). It fails the test after 10 s of real time.
func deliverAll(t *testing.T, clk *fakeClock, rcv *receiver, out datasource.Outbox, want int) {
	t.Helper()
	hang := time.After(10 * time.Second)
	for got := 0; ; {
		select {
		case <-rcv.received:
			got++
		case d := <-clk.waits:
			if got >= want {
				if _, pending, err := out.NextDelivery(context.Background()); err == nil && !pending {
					return
				}
			}
			clk.Advance(d)
		case <-hang:
			t.Fatalf("%d of %d deliveries after 10 s", got, want)
		}
	}
}

type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	fail     int // answer 500 to this many requests first
	got      []datasource.Event
	ids      []string
	badSigs  int
	received chan struct{}
}

// newReceiver answers 500 to the first fail requests. It checks signatures
// against clk with two hours' tolerance: deliverAll may move clk by a
// wait the dispatcher already left (its idle hour) while a request is in
// flight. TestSignVerify checks the tolerance itself.
func newReceiver(t *testing.T, clk *fakeClock, fail int) *receiver {
	r := &receiver{fail: fail, received: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := Verify(secret, req.Header.Get(HeaderSignature), body, clk.Now(), 2*time.Hour); err != nil {
			r.badSigs++
			w.WriteHeader(400)
			return
		}
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(500)
			return
		}
		var e datasource.Event
		json.Unmarshal(body, &e)
		r.got = append(r.got, e)
		r.ids = append(r.ids, req.Header.Get(HeaderEventID))
		r.received <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func openStore(t *testing.T, dir string, ks *crypto.Keyset) *bolt.Store {
	s, err := bolt.Open(filepath.Join(dir, "grantd.db"), ks, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeliveryRetriedSignedAndOnce(t *testing.T) {
	dir := t.TempDir()
	ks, _ := crypto.NewKeyset()
	store := openStore(t, dir, ks)
	defer store.Close()
	clk := newFakeClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	rcv := newReceiver(t, clk, 2)
	var logs testlog.Buffer
	d, err := New(Config{Store: store, URLs: []string{rcv.URL + "/hooks/secret-path-token"}, Secret: secret,
		Dialer: &outbound.Dialer{AllowPrivate: true}, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	d.Publish(&datasource.Event{Type: datasource.EventStatusChanged, DatasourceID: "ds_1", Status: datasource.StatusAuthorized,
		PreviousStatus: datasource.StatusUnauthorized, Actor: "grantd"})
	// Two failures, each retried after the default backoff, then success;
	// the delivery is finished once the receiver's answer is read.
	deliverAll(t, clk, rcv, store, 1)
	d.Close()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.got) != 1 || rcv.got[0].Type != datasource.EventStatusChanged || rcv.ids[0] != rcv.got[0].ID || rcv.badSigs != 0 {
		t.Fatalf("received %+v ids %v bad signatures %d", rcv.got, rcv.ids, rcv.badSigs)
	}
	if strings.Contains(logs.String(), "secret-path-token") {
		t.Error("the webhook URL's path (a credential for Slack-style hooks) is in the logs")
	}
	if n := strings.Count(logs.String(), "will retry"); n != 2 {
		t.Errorf("%d failed attempts logged, want 2", n)
	}
}

// TestDeliverySurvivesRestart: an event published while the receiver is
// down is delivered by the next process on the same store.
func TestDeliverySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ks, _ := crypto.NewKeyset()
	store := openStore(t, dir, ks)
	clk := newFakeClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	rcv := newReceiver(t, clk, 1000) // down
	d, _ := New(Config{Store: store, URLs: []string{rcv.URL}, Secret: secret, Dialer: &outbound.Dialer{AllowPrivate: true},
		Backoff: func(int) time.Duration { return time.Minute }, Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d.Start()
	d.Publish(&datasource.Event{Type: datasource.EventRevoked, DatasourceID: "ds_9", Actor: "token:abcd1234"})
	d.Close() // the event is written before Close returns
	store.Close()

	store = openStore(t, dir, ks)
	defer store.Close()
	events, _ := store.ListEvents(context.Background(), datasource.EventQuery{})
	if len(events) != 1 {
		t.Fatalf("%d events after restart", len(events))
	}
	rcv.mu.Lock()
	rcv.fail = 0
	rcv.mu.Unlock()
	// The first process may have left the delivery due, leased (a minute)
	// or due for retry (a minute); the new one delivers it when it is due.
	d2, _ := New(Config{Store: store, URLs: []string{rcv.URL}, Secret: secret, Dialer: &outbound.Dialer{AllowPrivate: true},
		Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d2.Start()
	defer d2.Close()
	deliverAll(t, clk, rcv, store, 1)
}

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"ev_1"}`)
	h := Sign(secret, now, body)
	if err := Verify(secret, h, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		h    string
		body []byte
		now  time.Time
	}{
		"tampered body": {h, []byte(`{"id":"ev_2"}`), now},
		"stale":         {h, body, now.Add(10 * time.Minute)},
		"other secret":  {Sign([]byte("another-secret-of-some-length"), now, body), body, now},
		"garbage":       {"v1=abc", body, now},
	} {
		if err := Verify(secret, c.h, c.body, c.now, time.Minute); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B0/XXXX": "https://hooks.slack.com/…",
		"https://example.com?token=x":                 "https://example.com/…",
		"https://example.com":                         "https://example.com",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

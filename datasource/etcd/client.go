// Package etcd implements datasource.Store on etcd, so several grantd
// replicas share datasources, tokens, pending authorization states, events
// and the (encrypted) keyset, and coordinate refreshes.
//
// # Layout
//
// Under a prefix (default "/grantd/"): ds/<id> (datasource records),
// name/<name> (the uniqueness index), tok/<id> (token records), state/<key>
// (pending states), meta/<key>, ev/<id> and dlv/<event id>/<url> (events
// and webhook deliveries), keyset (the Tink keyset, encrypted under the
// master key), schema (the schema marker, see Open), lock/<id> (refresh
// locks). Records are encoded by package sealed, exactly as in bbolt:
// secrets sealed with associated data, every record (but the names index,
// checked against the datasource it points to) tagged with its kind and
// key. A record changed in etcd by anything but grantd is refused
// (datasource.ErrTampered) and logged; the others keep working.
//
// # Consistency
//
// Every write is one etcd transaction with compare-and-swap on the keys it
// depends on (mod revisions, versions), so the semantics match bbolt's:
// unique names, a generation check on token records, a state consumed at
// most once. Reads are linearizable. Without a quorum every call fails with
// datasource.ErrUnavailable: grantd keeps serving tokens it has cached and
// answers writes with 503.
//
// # Coordination
//
// Locker is a grants.Locker on etcd's concurrency.Mutex, held with a
// session lease: one token request per refresh across replicas; a replica
// that dies holding a lock loses it when its lease expires (the TTL).
// Watch reports changes other replicas make, so their tokens are served
// without a token request of one's own (grants.Engine.Invalidate).
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grantd/grantd/datasource"
)

// Options configure Dial.
type Options struct {
	Endpoints []string
	// Prefix namespaces every key; default "/grantd/".
	Prefix string
	// DialTimeout bounds connecting; default 5s.
	DialTimeout time.Duration
	// OpTimeout bounds each request; default 5s. A request that times out
	// (no quorum) fails with datasource.ErrUnavailable.
	OpTimeout time.Duration
	// Username and Password authenticate to etcd when set.
	Username, Password string
	// Logger gets the member health changes; default slog.Default().
	Logger *slog.Logger
}

// Client is a connection to etcd shared by the store, the keyset, the
// locker and the watch. Safe for concurrent use.
type Client struct {
	c      *clientv3.Client
	prefix string
	opTO   time.Duration
	log    *slog.Logger
	health *health
}

// Dial connects to etcd. It does not wait for the cluster to answer.
func Dial(o Options) (*Client, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if o.Prefix == "" {
		o.Prefix = "/grantd/"
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg := clientv3.Config{
		Endpoints:          o.Endpoints,
		DialTimeout:        o.DialTimeout,
		Username:           o.Username,
		Password:           o.Password,
		Logger:             zap.NewNop(),
		MaxCallRecvMsgSize: 64 << 20,
		// Keepalive closes a connection to a member that stopped
		// answering (gRPC pings at most every 10 s); the health checks
		// (health.go) take such a member out of use within 2 s, and
		// they read the member list themselves (no AutoSyncInterval:
		// it would put a hung member back).
		// Pings only while a stream is open (the watch always is): etcd
		// answers pings on an idle connection with GOAWAY "too_many_pings"
		// (its default keepalive policy), which would drop the health
		// checks' own idle connections.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: connect: %w", err)
	}
	cl := &Client{c: c, prefix: o.Prefix, opTO: o.OpTimeout, log: o.Logger}
	cl.startHealth(o.Endpoints)
	return cl, nil
}

// Close closes the connection; a Locker's session ends with it.
func (c *Client) Close() error {
	c.health.stop()
	return c.c.Close()
}

// Raw returns the etcd client, for tests and diagnostics.
func (c *Client) Raw() *clientv3.Client { return c.c }

// Ping checks that the cluster answers a linearizable read.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	_, err := c.c.Get(ctx, c.prefix+"meta/ping")
	return mapErr(err)
}

func (c *Client) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opTO)
}

func (c *Client) key(parts ...string) string { return c.prefix + strings.Join(parts, "/") }

// mapErr turns "cannot reach a quorum" into datasource.ErrUnavailable.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %v", datasource.ErrUnavailable, err)
	}
	// The client turns well-known server errors into rpctypes.EtcdError
	// ("etcdserver: request timed out", "leader changed", "no leader"),
	// which is no gRPC status any more but keeps the code.
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		switch ee.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return fmt.Errorf("%w: %s", datasource.ErrUnavailable, ee.Error())
		}
	}
	if s, ok := status.FromError(err); ok {
		switch {
		case s.Code() == codes.Unavailable, s.Code() == codes.DeadlineExceeded, s.Code() == codes.Canceled,
			// A deadline that passed inside the client's own retry
			// interceptor comes back with code Unknown.
			s.Code() == codes.Unknown && (strings.Contains(s.Message(), context.DeadlineExceeded.Error()) || strings.Contains(s.Message(), context.Canceled.Error())):
			return fmt.Errorf("%w: %s", datasource.ErrUnavailable, s.Message())
		}
	}
	return fmt.Errorf("etcd: %w", err)
}

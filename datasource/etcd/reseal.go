package etcd

import (
	"context"
	"errors"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/sealed"
)

// Reseal re-encrypts every sealed value and re-tags every record under
// with's primary key (grantd keys rotate). with must open the old records
// too, as a rotated keyset does: the store reads and writes with it from
// the start, since records are rewritten one at a time and reads meanwhile
// meet old and new ones. Each record is rewritten in its own transaction
// on its mod revision, so a concurrent change wins and is sealed by its
// writer. A record that does not authenticate is left as it is (still
// refused, and logged): re-tagging it would make it authentic. It returns
// how many records it rewrote, the schema marker not counted. After an
// error, running it again finishes the job.
func (s *Store) Reseal(ctx context.Context, with sealed.Sealer) (int, error) {
	next := sealed.Codec{Sealer: with, Log: s.log}
	s.codecMu.Lock()
	s.codec = next
	s.codecMu.Unlock()
	n := 0
	rewrite := func(prefix string, f func(key string, v []byte) ([]byte, error)) error {
		return s.scan(ctx, prefix, func(k, v []byte, rev int64) error {
			nv, err := f(strings.TrimPrefix(string(k), prefix), v)
			if errors.Is(err, datasource.ErrTampered) {
				return nil
			}
			if err != nil {
				return err
			}
			tr, err := s.txn(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(k)), "=", rev)}, []clientv3.Op{clientv3.OpPut(string(k), string(nv))})
			if err != nil {
				return err
			}
			if tr.Succeeded {
				n++
			}
			return nil
		})
	}
	rewrap := func(kind string) func(string, []byte) ([]byte, error) {
		return func(key string, v []byte) ([]byte, error) { return next.Rewrap(next, kind, key, v) }
	}
	err := errors.Join(
		rewrite(s.c.key("ds")+"/", func(id string, v []byte) ([]byte, error) {
			d, err := next.DecodeDatasource(id, v)
			if err != nil {
				return nil, err
			}
			return next.EncodeDatasource(d)
		}),
		rewrite(s.c.key("tok")+"/", func(id string, v []byte) ([]byte, error) {
			t, err := next.DecodeToken(datasource.ParseKey(id), v)
			if err != nil {
				return nil, err
			}
			return next.EncodeToken(datasource.ParseKey(id), t)
		}),
		rewrite(s.c.key("conn")+"/", rewrap(sealed.KindConnection)),
		rewrite(s.c.key("apikey")+"/", rewrap(sealed.KindAPIKey)),
		rewrite(s.c.key("agentsession")+"/", rewrap(sealed.KindAgentSession)),
		rewrite(s.c.key("state")+"/", func(key string, v []byte) ([]byte, error) {
			st, err := next.DecodeState(key, v)
			if err != nil {
				return nil, err
			}
			return next.EncodeState(st)
		}),
		rewrite(s.c.key("ev")+"/", rewrap(sealed.KindEvent)),
		rewrite(s.c.key("dlv")+"/", func(key string, v []byte) ([]byte, error) {
			return next.Rewrap(next, sealed.KindDelivery, deliveryKey(key), v)
		}),
		rewrite(s.c.key("meta")+"/", rewrap(sealed.KindMeta)),
	)
	if err != nil {
		return n, err
	}
	return n, s.retagSchema(ctx)
}

// deliveryKey is the sealed.DeliveryKey of a delivery stored under
// dlv/<key>: "<event id>/<url>" (event ids hold no slash).
func deliveryKey(key string) string {
	ev, url, _ := strings.Cut(key, "/")
	return sealed.DeliveryKey(ev, url)
}

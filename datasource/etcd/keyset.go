package etcd

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/grantd/grantd/crypto"
)

// Keyset returns the keyset's storage in etcd, shared by every replica.
// Its first save is create-if-absent, so replicas that start together
// agree on one keyset.
func (c *Client) Keyset() crypto.KeysetStorage { return keysetStorage{c} }

type keysetStorage struct{ c *Client }

func (k keysetStorage) LoadKeyset() ([]byte, error) {
	ctx, cancel := k.c.op(context.Background())
	defer cancel()
	resp, err := k.c.c.Get(ctx, k.c.key("keyset"))
	if err != nil {
		return nil, mapErr(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, crypto.ErrNoKeyset
	}
	return resp.Kvs[0].Value, nil
}

func (k keysetStorage) SaveKeyset(enc []byte) error {
	ctx, cancel := k.c.op(context.Background())
	defer cancel()
	_, err := k.c.c.Put(ctx, k.c.key("keyset"), string(enc))
	return mapErr(err)
}

// CreateKeyset stores enc only if no keyset is stored yet; otherwise it
// returns crypto.ErrKeysetExists.
func (k keysetStorage) CreateKeyset(enc []byte) error {
	ctx, cancel := k.c.op(context.Background())
	defer cancel()
	key := k.c.key("keyset")
	resp, err := k.c.c.Txn(ctx).If(clientv3.Compare(clientv3.Version(key), "=", 0)).
		Then(clientv3.OpPut(key, string(enc))).Commit()
	if err != nil {
		return mapErr(err)
	}
	if !resp.Succeeded {
		return crypto.ErrKeysetExists
	}
	return nil
}

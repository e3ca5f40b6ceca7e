package bolt

import (
	"bytes"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource/sealed"
	"github.com/grantd/grantd/datasource/storetest"
)

var _ storetest.Raw = (*Store)(nil)

// rawKey is where the record of kind under key lives in the file.
func rawKey(kind, key string) (bucket, k []byte, err error) {
	switch kind {
	case sealed.KindDatasource:
		return bucketDatasources, []byte(key), nil
	case sealed.KindToken:
		return bucketTokens, []byte(key), nil
	case sealed.KindState:
		return bucketStates, []byte(key), nil
	case sealed.KindEvent:
		return bucketEvents, []byte(key), nil
	case sealed.KindDelivery:
		return bucketDeliveries, []byte(key), nil // keyed by sealed.DeliveryKey
	case sealed.KindMeta:
		return bucketMeta, []byte(metaPrefix + key), nil
	case storetest.KindName:
		return bucketNames, []byte(key), nil
	case sealed.KindAgentSession:
		return bucketAgentSessions, []byte(key), nil
	}
	return nil, nil, fmt.Errorf("no kind %q", kind)
}

// RawRecord implements storetest.Raw (in tests only).
func (s *Store) RawRecord(kind, key string) ([]byte, error) {
	b, k, err := rawKey(kind, key)
	if err != nil {
		return nil, err
	}
	var v []byte
	err = s.db.View(func(tx *bbolt.Tx) error { v = bytes.Clone(tx.Bucket(b).Get(k)); return nil })
	return v, err
}

// SetRawRecord implements storetest.Raw (in tests only).
func (s *Store) SetRawRecord(kind, key string, value []byte) error {
	b, k, err := rawKey(kind, key)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(b).Put(k, value) })
}

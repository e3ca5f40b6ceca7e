package etcd

import (
	"context"
	"fmt"
	"strings"

	"github.com/grantd/grantd/datasource/sealed"
	"github.com/grantd/grantd/datasource/storetest"
)

var _ storetest.Raw = (*Store)(nil)

// rawKey is the etcd key of the record of kind under key.
func (s *Store) rawKey(kind, key string) (string, error) {
	switch kind {
	case sealed.KindDatasource:
		return s.c.key("ds", key), nil
	case sealed.KindToken:
		return s.c.key("tok", key), nil
	case sealed.KindState:
		return s.c.key("state", key), nil
	case sealed.KindEvent:
		return s.c.key("ev", key), nil
	case sealed.KindDelivery:
		ev, url, _ := strings.Cut(key, "\x00")
		return s.dlvKey(ev, url), nil
	case sealed.KindMeta:
		return s.c.key("meta", key), nil
	case storetest.KindName:
		return s.c.key("name", key), nil
	case sealed.KindAgentSession:
		return s.c.key("agentsession", key), nil
	}
	return "", fmt.Errorf("no kind %q", kind)
}

// RawRecord implements storetest.Raw (in tests only).
func (s *Store) RawRecord(kind, key string) ([]byte, error) {
	k, err := s.rawKey(kind, key)
	if err != nil {
		return nil, err
	}
	resp, err := s.get(context.Background(), k)
	if err != nil || len(resp.Kvs) == 0 {
		return nil, err
	}
	return resp.Kvs[0].Value, nil
}

// SetRawRecord implements storetest.Raw (in tests only).
func (s *Store) SetRawRecord(kind, key string, value []byte) error {
	k, err := s.rawKey(kind, key)
	if err != nil {
		return err
	}
	_, err = s.c.c.Put(context.Background(), k, string(value))
	return err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/bolt"
	"github.com/grantd/grantd/datasource/etcd"
	"github.com/grantd/grantd/datasource/sealed"
)

// stack is what every command that touches the data needs: the master
// key, the keyset it opens, and the store.
type stack struct {
	dir      string
	kek      crypto.MasterKey
	keys     *crypto.Keyset
	keysetSt crypto.KeysetStorage
	store    store
	etcd     *etcd.Client // nil for bbolt
}

// store is what serve needs of a store: datasource.Store with an event
// log and its webhook outbox, and re-encryption for keys rotate.
type store interface {
	datasource.Store
	datasource.EventLog
	datasource.Outbox
	Reseal(ctx context.Context, with sealed.Sealer) (int, error)
}

// storeConfig says which store to open.
type storeConfig struct {
	kind      string // "bolt" or "etcd"
	endpoints []string
	prefix    string
}

// openStackWith opens the store sc names. For bbolt, the data directory:
// the master key from masterKey (the GRANTD_MASTER_KEY value) or, without
// it, the development key file data/master.key (created on first use, but
// never beside an existing keyset or database: see needMasterKey); the
// keyset in data/keyset.json (created on first use); the file
// data/grantd.db. For etcd, the keyset lives in etcd (shared by every
// replica) and the master key must come from GRANTD_MASTER_KEY: a key file
// on one machine cannot be shared.
func openStackWith(sc storeConfig, dir, masterKey string, log *slog.Logger) (*stack, error) {
	if sc.kind == "etcd" {
		return openEtcdStack(sc, masterKey, log)
	}
	if masterKey == "" {
		if err := needMasterKey(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st := &stack{dir: dir, keysetSt: crypto.KeysetFile(filepath.Join(dir, "keyset.json"))}
	if masterKey != "" {
		k, err := crypto.ParseMasterKey(masterKey)
		if err != nil {
			return nil, fmt.Errorf("GRANTD_MASTER_KEY: %w", err)
		}
		st.kek = k
	} else {
		path := filepath.Join(dir, "master.key")
		k, created, err := crypto.LoadOrCreateMasterKeyFile(path)
		if err != nil {
			return nil, err
		}
		st.kek = k
		if created {
			log.Warn("created a development master key next to the data; set GRANTD_MASTER_KEY in production", "path", path)
		} else {
			log.Info("using the development master key file; set GRANTD_MASTER_KEY in production", "path", path)
		}
	}
	keys, created, err := crypto.LoadOrCreateKeyset(st.keysetSt, st.kek)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created a new keyset", "keys", keys.Len())
	}
	st.keys = keys
	store, err := bolt.Open(filepath.Join(dir, "grantd.db"), keys, &bolt.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	st.store = store
	return st, nil
}

// needMasterKey refuses a data dir that holds a keyset or a database but no
// master.key, when GRANTD_MASTER_KEY is unset: they were made under a key
// grantd no longer has, so a new development key could not open them, and
// writing one would leave a second mistake behind the first. It runs
// before anything is created.
func needMasterKey(dir string) error {
	keyFile := filepath.Join(dir, "master.key")
	if _, err := os.Lstat(keyFile); !errors.Is(err, fs.ErrNotExist) {
		return nil // there is one (or LoadOrCreateMasterKeyFile says why not)
	}
	var found []string
	for _, f := range []string{"keyset.json", "grantd.db"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			found = append(found, f)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%s holds %s but no master.key, and GRANTD_MASTER_KEY is not set: "+
		"set GRANTD_MASTER_KEY to the key they were made with, or restore %s "+
		"(grantd does not create a new key: it could not open them)", dir, strings.Join(found, " and "), keyFile)
}

func openEtcdStack(sc storeConfig, masterKey string, log *slog.Logger) (*stack, error) {
	if masterKey == "" {
		return nil, errors.New("--store etcd needs GRANTD_MASTER_KEY (the same on every replica; grantd keys generate makes one)")
	}
	kek, err := crypto.ParseMasterKey(masterKey)
	if err != nil {
		return nil, fmt.Errorf("GRANTD_MASTER_KEY: %w", err)
	}
	cl, err := etcd.Dial(etcd.Options{Endpoints: sc.endpoints, Prefix: sc.prefix, Logger: log})
	if err != nil {
		return nil, err
	}
	st := &stack{kek: kek, keysetSt: cl.Keyset(), etcd: cl}
	keys, created, err := crypto.LoadOrCreateKeyset(st.keysetSt, kek)
	if err != nil {
		cl.Close()
		return nil, err
	}
	if created {
		log.Info("created a new keyset in etcd", "keys", keys.Len())
	}
	st.keys = keys
	st.store, err = cl.Open(keys, &etcd.StoreOptions{Logger: log})
	if err != nil {
		cl.Close()
		return nil, err
	}
	return st, nil
}

func (s *stack) Close() error {
	err := s.store.Close()
	if s.etcd != nil {
		err = errors.Join(err, s.etcd.Close())
	}
	return err
}

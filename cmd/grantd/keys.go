package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource/bolt"
)

func keysGenerate(stdout io.Writer) error {
	fmt.Fprintln(stdout, crypto.GenerateMasterKey().Encode())
	return nil
}

func dataDirFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", env("GRANTD_DATA_DIR", "./data"), "data directory (GRANTD_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return "", usageError{err.Error()}
	}
	return *dir, nil
}

// keysRotate adds a new primary key to the keyset and re-encrypts every
// stored secret under it. The rotated keyset (old keys included) is saved
// first: if the re-encryption is interrupted, everything still opens, and
// running the command again finishes the job.
func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir, err := dataDirFlag("keys rotate", args, stderr)
	if err != nil {
		return err
	}
	c := &config{LogLevel: "warn", LogFormat: "text"}
	st, err := openStackWith(storeFromEnv(), dir, os.Getenv("GRANTD_MASTER_KEY"), c.logger(stderr))
	if errors.Is(err, bolt.ErrLocked) {
		return fmt.Errorf("%w; stop grantd before rotating keys", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	rotated, err := st.keys.Rotate()
	if err != nil {
		return err
	}
	enc, err := rotated.Encrypt(st.kek)
	if err != nil {
		return err
	}
	if err := st.keysetSt.SaveKeyset(enc); err != nil {
		return err
	}
	n, err := st.store.Reseal(ctx, rotated)
	if err != nil {
		return err
	}
	// The session key is sealed too.
	if b, err := st.store.Meta(ctx, metaSessionKey); err == nil {
		aad := []byte("grantd/v1/meta/session-key")
		if k, err := st.keys.Open(b, aad); err == nil {
			if sealed, err := rotated.Seal(k, aad); err == nil {
				st.store.SetMeta(ctx, metaSessionKey, sealed)
			}
		}
	}
	fmt.Fprintf(stdout, "rotated: %d keys, new primary %d; re-encrypted %d records\n", rotated.Len(), rotated.PrimaryID(), n)
	return nil
}

// storeFromEnv is the store the maintenance commands open: GRANTD_STORE,
// GRANTD_ETCD_ENDPOINTS and GRANTD_ETCD_PREFIX, as serve reads them. With
// etcd, stop every replica before rotating keys: they keep the old keyset
// in memory.
func storeFromEnv() storeConfig {
	sc := storeConfig{kind: env("GRANTD_STORE", "bolt"), prefix: env("GRANTD_ETCD_PREFIX", "/grantd/")}
	for _, e := range strings.Split(os.Getenv("GRANTD_ETCD_ENDPOINTS"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			sc.endpoints = append(sc.endpoints, e)
		}
	}
	return sc
}

func adminTokenReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir, err := dataDirFlag("admin-token reset", args, stderr)
	if err != nil {
		return err
	}
	c := &config{LogLevel: "warn", LogFormat: "text"}
	st, err := openStackWith(storeFromEnv(), dir, os.Getenv("GRANTD_MASTER_KEY"), c.logger(stderr))
	if errors.Is(err, bolt.ErrLocked) {
		return fmt.Errorf("%w; stop grantd first", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.resetAdminToken(ctx, stdout)
	return err
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource/bolt"
)

const keysGenerateHelp = `Usage: grantd keys generate

Prints a new random master key: base64 of 32 random bytes, for
GRANTD_MASTER_KEY. Keep it in a secret store; grantd cannot open its data
without it. Give every replica (and grantd keys rotate, grantd admin-token
reset) the same key.
`

func keysGenerate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	rest, err := parseArgs(fs, keysGenerateHelp, args, stdout)
	if err != nil {
		return err
	}
	if err := noArgs(fs, rest); err != nil {
		return err
	}
	fmt.Fprintln(stdout, crypto.GenerateMasterKey().Encode())
	return nil
}

// dataHelp is what the maintenance commands read besides --data-dir.
const dataHelp = `
It opens the data as grantd serve does: the master key from
GRANTD_MASTER_KEY, else the development key file master.key in the data
dir; with GRANTD_STORE=etcd, the store at GRANTD_ETCD_ENDPOINTS (prefix
GRANTD_ETCD_PREFIX) instead of the data dir.
`

// dataDirFlag parses the flags of a maintenance command: only --data-dir.
func dataDirFlag(name, help string, args []string, stdout io.Writer) (string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("data-dir", env("GRANTD_DATA_DIR", "./data"), "the `DIR` that holds grantd.db, keyset.json and master.key (GRANTD_DATA_DIR)")
	rest, err := parseArgs(fs, help+dataHelp, args, stdout)
	if err != nil {
		return "", err
	}
	return *dir, noArgs(fs, rest)
}

const keysRotateHelp = `Usage: grantd keys rotate [--data-dir DIR]

Adds a new primary key to the keyset, saves the keyset, and re-encrypts
every stored secret under the new key; old data stays readable. Stop grantd
first (with etcd: every replica), and start it again afterwards. If the
re-encryption is interrupted, running the command again finishes it.
`

// keysRotate adds a new primary key to the keyset and re-encrypts every
// stored secret under it. The rotated keyset (old keys included) is saved
// first: if the re-encryption is interrupted, everything still opens, and
// running the command again finishes the job.
func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir, err := dataDirFlag("keys rotate", keysRotateHelp, args, stdout)
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
	// The session key is sealed too. Best effort, as before it moved to
	// access: the rotated keyset still holds the old key, so a session key
	// left under it keeps opening.
	access.ResealSessionKey(ctx, st.store, st.keys, rotated)
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

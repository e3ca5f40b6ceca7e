package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource/bolt"
)

// adminTokenHash returns the SHA-256 of the admin token serve checks (see
// access.EnsureAdminToken): of fromEnv (GRANTD_ADMIN_TOKEN) when set; else
// the stored hash, logging how to get a new token since it is not printed
// again; else that of a new token, which it prints once to out.
func adminTokenHash(ctx context.Context, st access.Store, fromEnv string, out io.Writer, log *slog.Logger) ([sha256.Size]byte, error) {
	h, generated, err := access.EnsureAdminToken(ctx, st, fromEnv)
	switch {
	case errors.Is(err, access.ErrShortAdminToken):
		return h, fmt.Errorf("GRANTD_ADMIN_TOKEN must be at least %d characters", access.MinAdminTokenLength)
	case err != nil:
		return h, err
	case generated != "":
		printAdminToken(out, generated)
	case fromEnv == "":
		log.Info("admin token: using the stored one, printed on first start; lost it? stop grantd and run: grantd admin-token reset")
	}
	return h, nil
}

func printAdminToken(out io.Writer, tok string) {
	fmt.Fprintf(out, "\nAdmin token (shown once, only its hash is stored; keep it safe):\n\n  %s\n\n", tok)
}

const adminTokenResetHelp = `Usage: grantd admin-token reset [--data-dir DIR]

Replaces the admin token: makes a new one, stores its SHA-256 and prints
the token once. The old token stops working. Stop grantd first, and start it
again afterwards (with etcd: every replica). Not needed when the token
comes from GRANTD_ADMIN_TOKEN: that one wins.
`

func adminTokenReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	dir, err := dataDirFlag("admin-token reset", adminTokenResetHelp, args, stdout)
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
	tok, _, err := access.ResetAdminToken(ctx, st.store)
	if err != nil {
		return err
	}
	printAdminToken(stdout, tok)
	return nil
}

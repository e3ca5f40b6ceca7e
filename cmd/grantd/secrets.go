package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/grantd/grantd/datasource"
)

// maxSecretFile bounds a ${file:…} secret.
const maxSecretFile = 64 << 10

// resolveSecret resolves client secret references for the engine:
// ${env:NAME} from grantd's environment, ${file:/path} from a file (a
// mounted secret; one trailing newline is dropped). The value is read at
// each token request and never stored. Errors name what is missing, never
// a value.
func resolveSecret(_ context.Context, ref string) (string, error) {
	kind, name, ok, bad := datasource.ParseSecretRef(ref)
	switch {
	case !ok:
		return "", fmt.Errorf("not a reference")
	case bad != "":
		return "", fmt.Errorf("%s", bad)
	}
	switch kind {
	case datasource.SecretRefEnv:
		v, found := os.LookupEnv(name)
		if !found || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		return v, nil
	case datasource.SecretRefFile:
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("file %s cannot be read (%v)", name, errText(err))
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil {
			return "", fmt.Errorf("file %s cannot be read", name)
		}
		if len(b) > maxSecretFile {
			return "", fmt.Errorf("file %s is over %d bytes", name, maxSecretFile)
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(b) == 0 {
			return "", fmt.Errorf("file %s is empty", name)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("unsupported reference")
}

func errText(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	return "I/O error"
}

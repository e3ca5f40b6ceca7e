package main

import (
	"os"
	"path/filepath"

	"github.com/grantd/grantd/secretref"
)

// secretFence is what client secret references may reach: the variables
// --secret-env-allow names (read from grantd's environment), the files
// inside --secret-dir, never the data dir. The engine resolves through it
// at each token request and checks new references with it at create and
// update.
func (c *config) secretFence() *secretref.Fence {
	data, err := filepath.Abs(c.DataDir)
	if err != nil {
		data = filepath.Clean(c.DataDir) // Abs fails only without a working directory
	}
	return &secretref.Fence{
		EnvAllow:  c.SecretEnvAllow,
		LookupEnv: os.LookupEnv,
		Dir:       c.SecretDir,
		DataDir:   data,
	}
}

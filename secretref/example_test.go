package secretref_test

import (
	"context"
	"fmt"

	"github.com/grantd/grantd/secretref"
)

func ExampleFence_Resolve() {
	env := map[string]string{
		"VECTARA_CLIENT_SECRET": "s3cr3t",
		"GRANTD_ADMIN_TOKEN":    "never-sent",
	}
	f := &secretref.Fence{
		EnvAllow:  secretref.DefaultEnvAllow,
		LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }, // os.LookupEnv in grantd
		Dir:       "/run/secrets",
		DataDir:   "/var/lib/grantd",
	}
	for _, ref := range []string{
		"${env:VECTARA_CLIENT_SECRET}",
		"${env:GRANTD_ADMIN_TOKEN}",
		"${env:HOME}",
		"${file:/var/lib/grantd/master.key}",
	} {
		v, err := f.Resolve(context.Background(), ref)
		fmt.Printf("%q %v\n", v, err)
	}
	// Output:
	// "s3cr3t" <nil>
	// "" ${env:GRANTD_ADMIN_TOKEN} is refused: GRANTD_* variables are never resolved
	// "" ${env:HOME} is not in --secret-env-allow (*_CLIENT_SECRET,*_CLIENT_ID,*_PRIVATE_KEY)
	// "" ${file:/var/lib/grantd/master.key} is outside --secret-dir /run/secrets
}

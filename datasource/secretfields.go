package datasource

import "fmt"

// SecretFields are the write-only fields of a datasource by their API
// path: stored sealed, never returned, and kept by an update that omits
// them (see KeepSecrets).
var SecretFields = []string{"auth.clientSecret"}

func secretField(d *Datasource, field string) *Secret {
	switch field {
	case "auth.clientSecret":
		return &d.Auth.ClientSecret
	}
	return nil
}

// KeepSecrets copies the write-only fields named (see SecretFields) from
// old into d, as an update that omits them asks. An unknown name is an
// error.
func (d *Datasource) KeepSecrets(old *Datasource, fields []string) error {
	for _, f := range fields {
		dst, src := secretField(d, f), secretField(old, f)
		if dst == nil {
			return fmt.Errorf("datasource: %q is not a write-only field", f)
		}
		*dst = *src
	}
	return nil
}

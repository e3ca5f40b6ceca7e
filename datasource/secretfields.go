package datasource

import "fmt"

// SecretFields are the write-only fields of a datasource by their API
// path: stored sealed, never returned, and kept by an update that omits
// them (see KeepSecrets). Each may be a value or a reference (see
// ParseSecretRef).
var SecretFields = []string{"auth.clientSecret", "auth.privateKey", "auth.serviceAccountJson", "auth.upstreamPrivateKey"}

// SecretField returns the write-only field of d named by its API path
// (see SecretFields), or nil for another name.
func (d *Datasource) SecretField(field string) *Secret {
	switch field {
	case "auth.clientSecret":
		return &d.Auth.ClientSecret
	case "auth.privateKey":
		return &d.Auth.PrivateKey
	case "auth.serviceAccountJson":
		return &d.Auth.ServiceAccountJSON
	case "auth.upstreamPrivateKey":
		return &d.Auth.UpstreamPrivateKey
	}
	return nil
}

// KeepSecrets copies the write-only fields named (see SecretFields) from
// old into d, as an update that omits them asks. An unknown name is an
// error.
func (d *Datasource) KeepSecrets(old *Datasource, fields []string) error {
	for _, f := range fields {
		dst, src := d.SecretField(f), old.SecretField(f)
		if dst == nil {
			return fmt.Errorf("datasource: %q is not a write-only field", f)
		}
		*dst = *src
	}
	return nil
}

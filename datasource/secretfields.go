package datasource

import "fmt"

// SecretFields are the write-only fields of a datasource by their API
// path: stored sealed, never returned, and kept by an update that omits
// them (see KeepSecrets). Each may be a value or a reference (see
// ParseSecretRef).
var SecretFields = []string{"auth.clientSecret", "auth.privateKey", "auth.serviceAccountJson", "auth.upstreamPrivateKey",
	"auth.apiKey", "auth.password", "auth.token", "auth.accessKeyId", "auth.secretAccessKey", "auth.sessionToken"}

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
	case "auth.apiKey":
		return &d.Auth.APIKey
	case "auth.password":
		return &d.Auth.Password
	case "auth.token":
		return &d.Auth.Token
	case "auth.accessKeyId":
		return &d.Auth.AccessKeyID
	case "auth.secretAccessKey":
		return &d.Auth.SecretAccessKey
	case "auth.sessionToken":
		return &d.Auth.SessionToken
	}
	return nil
}

// KeepSecrets copies the write-only fields named (see SecretFields) from
// old into d, as an update that omits them asks. A field d's auth type
// does not use is not kept: omitting the client secret while changing an
// OAuth 2.0 datasource to an API key leaves nothing unused behind. An
// unknown name is an error.
func (d *Datasource) KeepSecrets(old *Datasource, fields []string) error {
	for _, f := range fields {
		dst, src := d.SecretField(f), old.SecretField(f)
		if dst == nil {
			return fmt.Errorf("datasource: %q is not a write-only field", f)
		}
		if !UsesField(d.Auth.Kind(), f) {
			continue
		}
		*dst = *src
	}
	return nil
}

package sealed

import (
	"encoding/json"
	"fmt"

	"github.com/grantd/grantd/datasource"
)

// credentialRecord is an end user's credential (datasource.Credential)
// as it is sealed: one JSON object, encrypted as a whole under the token
// record's id and the field "credential", so none of its parts is ever
// stored in clear or movable to another connection.
type credentialRecord struct {
	APIKey          string `json:"apiKey,omitempty"`
	Username        string `json:"username,omitempty"`
	Password        string `json:"password,omitempty"`
	Token           string `json:"token,omitempty"`
	AccessKeyID     string `json:"accessKeyId,omitempty"`
	SecretAccessKey string `json:"secretAccessKey,omitempty"`
	SessionToken    string `json:"sessionToken,omitempty"`
}

func (c Codec) sealCredential(cr *datasource.Credential, id string) ([]byte, error) {
	if cr.IsZero() {
		return nil, nil
	}
	b, err := json.Marshal(&credentialRecord{APIKey: cr.APIKey.Reveal(), Username: cr.Username, Password: cr.Password.Reveal(),
		Token: cr.Token.Reveal(), AccessKeyID: cr.AccessKeyID.Reveal(), SecretAccessKey: cr.SecretAccessKey.Reveal(),
		SessionToken: cr.SessionToken.Reveal()})
	if err != nil {
		return nil, err
	}
	return c.seal(datasource.NewSecret(string(b)), "token", id, "credential")
}

func (c Codec) openCredential(b []byte, id string) (datasource.Credential, error) {
	s, err := c.open(b, "token", id, "credential")
	if err != nil || s.IsZero() {
		return datasource.Credential{}, err
	}
	var r credentialRecord
	if err := json.Unmarshal([]byte(s.Reveal()), &r); err != nil {
		return datasource.Credential{}, fmt.Errorf("%w: credential of %s", ErrFormat, id)
	}
	return datasource.Credential{APIKey: datasource.NewSecret(r.APIKey), Username: r.Username, Password: datasource.NewSecret(r.Password),
		Token: datasource.NewSecret(r.Token), AccessKeyID: datasource.NewSecret(r.AccessKeyID),
		SecretAccessKey: datasource.NewSecret(r.SecretAccessKey), SessionToken: datasource.NewSecret(r.SessionToken)}, nil
}

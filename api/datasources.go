package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// datasourceBody is the body of POST and PUT. The read-only fields of a
// GET (id, createdAt, updatedAt, authorization, auth.clientSecretSet) are
// accepted and ignored.
type datasourceBody struct {
	Name             string                    `json:"name"`
	URL              string                    `json:"url"`
	Description      string                    `json:"description"`
	Provider         string                    `json:"provider"`
	ConnectionMode   datasource.ConnectionMode `json:"connectionMode"`
	ConnectionConfig map[string]string         `json:"connectionConfig"`
	HealthCheck      *datasource.HealthCheck   `json:"healthCheck"`
	Auth             authBody                  `json:"auth"`
}

// datasource is the body as a datasource (the client secret aside).
func (b *datasourceBody) datasource(id string) *datasource.Datasource {
	return &datasource.Datasource{ID: id, Name: b.Name, URL: b.URL, Description: b.Description, Provider: b.Provider, ConnectionMode: b.ConnectionMode,
		ConnectionConfig: b.ConnectionConfig, HealthCheck: b.HealthCheck, Auth: b.Auth.OAuth2}
}

type authBody struct {
	// The write-only fields (datasource.SecretFields) are raw so that
	// absent/"" (keep the stored one on PUT) and null (clear it) can be
	// told apart. They come first so that they shadow OAuth2's fields.
	ClientSecret       json.RawMessage `json:"clientSecret"`
	PrivateKey         json.RawMessage `json:"privateKey"`
	ServiceAccountJSON json.RawMessage `json:"serviceAccountJson"`
	UpstreamPrivateKey json.RawMessage `json:"upstreamPrivateKey"`
	APIKey             json.RawMessage `json:"apiKey"`
	Password           json.RawMessage `json:"password"`
	Token              json.RawMessage `json:"token"`
	AccessKeyID        json.RawMessage `json:"accessKeyId"`
	SecretAccessKey    json.RawMessage `json:"secretAccessKey"`
	SessionToken       json.RawMessage `json:"sessionToken"`
	datasource.OAuth2
}

// writeOnly returns the raw value of each write-only field by API path.
func (b *authBody) writeOnly() map[string]json.RawMessage {
	return map[string]json.RawMessage{
		"auth.clientSecret":       b.ClientSecret,
		"auth.privateKey":         b.PrivateKey,
		"auth.serviceAccountJson": b.ServiceAccountJSON,
		"auth.upstreamPrivateKey": b.UpstreamPrivateKey,
		"auth.apiKey":             b.APIKey,
		"auth.password":           b.Password,
		"auth.token":              b.Token,
		"auth.accessKeyId":        b.AccessKeyID,
		"auth.secretAccessKey":    b.SecretAccessKey,
		"auth.sessionToken":       b.SessionToken,
	}
}

var readOnlyFields = []string{"id", "createdAt", "updatedAt", "authorization", "health", "connections", "auth.clientSecretSet", "auth.clientSecretRef",
	"auth.privateKeySet", "auth.privateKeyRef", "auth.privateKeyFingerprint", "auth.clientCertificateExpiresAt",
	"auth.serviceAccountJsonSet", "auth.serviceAccountJsonRef",
	"auth.upstreamPrivateKeySet", "auth.upstreamPrivateKeyRef", "auth.upstreamPrivateKeyFingerprint", "auth.upstreamClientCertificateExpiresAt",
	"auth.apiKeySet", "auth.apiKeyRef", "auth.passwordSet", "auth.passwordRef", "auth.tokenSet", "auth.tokenRef",
	"auth.accessKeyIdSet", "auth.accessKeyIdRef", "auth.secretAccessKeySet", "auth.secretAccessKeyRef", "auth.sessionTokenSet", "auth.sessionTokenRef"}

// newView is d as the API returns it, with its authorization status a and
// health h: no write-only field, but whether each is set, its reference
// when it is one, and for keys and certificates their fingerprint and
// expiry.
func newView(d *datasource.Datasource, a datasource.Authorization, h *datasource.Health) DatasourceView {
	auth := d.Auth
	v := AuthView{
		ClientSecretSet: !auth.ClientSecret.IsZero(), ClientSecretRef: auth.ClientSecret.Ref(),
		PrivateKeySet: !auth.PrivateKey.IsZero(), PrivateKeyRef: auth.PrivateKey.Ref(),
		ServiceAccountJSONSet: !auth.ServiceAccountJSON.IsZero(), ServiceAccountJSONRef: auth.ServiceAccountJSON.Ref(),
		UpstreamPrivateKeySet: !auth.UpstreamPrivateKey.IsZero(), UpstreamPrivateKeyRef: auth.UpstreamPrivateKey.Ref(),
		credentialView: credentialViewOf(&auth),
	}
	if auth.HasSigningKey() || auth.ClientCertificate != "" {
		info := datasource.DescribeKey(auth.SigningKey(), auth.ClientCertificate)
		v.PrivateKeyFingerprint, v.ClientCertificateExpiresAt = info.Fingerprint, timePtr(info.NotAfter)
	}
	if !auth.UpstreamPrivateKey.IsZero() || auth.UpstreamClientCertificate != "" {
		info := datasource.DescribeKey(auth.UpstreamPrivateKey, auth.UpstreamClientCertificate)
		v.UpstreamPrivateKeyFingerprint, v.UpstreamClientCertificateExpiresAt = info.Fingerprint, timePtr(info.NotAfter)
	}
	auth.ClientSecret, auth.PrivateKey, auth.ServiceAccountJSON, auth.UpstreamPrivateKey = datasource.Secret{}, datasource.Secret{}, datasource.Secret{}, datasource.Secret{}
	auth.APIKey, auth.Password, auth.Token = datasource.Secret{}, datasource.Secret{}, datasource.Secret{}
	auth.AccessKeyID, auth.SecretAccessKey, auth.SessionToken = datasource.Secret{}, datasource.Secret{}, datasource.Secret{}
	v.OAuth2 = auth
	cfg := d.ConnectionConfig
	if cfg == nil {
		cfg = map[string]string{}
	}
	return DatasourceView{ID: d.ID, Name: d.Name, URL: d.URL, Description: d.Description, Provider: d.Provider, ConnectionMode: d.ConnectionMode,
		ConnectionConfig: cfg, HealthCheck: d.HealthCheck, Auth: v,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Authorization: a, Health: h}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// readJSONBody reads a JSON request body up to the limit, or answers 413.
func (s *Server) readJSONBody(c *fiber.Ctx) ([]byte, error) {
	limit := s.cfg.JSONBodyLimit
	if n := c.Request().Header.ContentLength(); n > limit {
		return nil, probTooLarge.with("the body is over " + strconv.Itoa(limit) + " bytes")
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		b, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
		if err != nil {
			return nil, probMalformed.with("the body could not be read")
		}
		if len(b) > limit {
			return nil, probTooLarge.with("the body is over " + strconv.Itoa(limit) + " bytes")
		}
		return b, nil
	}
	b := c.Body()
	if len(b) > limit {
		return nil, probTooLarge.with("the body is over " + strconv.Itoa(limit) + " bytes")
	}
	return b, nil
}

// decodeDatasource reads a POST or PUT body. Field problems (wrong types,
// unknown fields) come back as a list so they can be answered together
// with the validation's.
func (s *Server) decodeDatasource(c *fiber.Ctx) (*datasourceBody, []datasource.FieldError, error) {
	b, err := s.readJSONBody(c)
	if err != nil {
		return nil, nil, err
	}
	var body datasourceBody
	errs, err := decodeFields(b, &body, readOnlyFields...)
	if err != nil {
		return nil, nil, err
	}
	return &body, errs, nil
}

// invalid answers every problem of a body that did not decode cleanly at
// once: the decoder's (wrong types, unknown fields) and the validation's,
// one per field (a field with the wrong type is not also reported as
// missing).
func invalid(d *datasource.Datasource, decodeErrs []datasource.FieldError) error {
	d.Normalize()
	errs := decodeErrs
	var v *datasource.ValidationError
	if errors.As(d.Validate(), &v) {
	next:
		for _, fe := range v.Errors {
			for _, de := range decodeErrs {
				if de.Field == fe.Field {
					continue next
				}
			}
			errs = append(errs, fe)
		}
	}
	p := probInvalid.with("the datasource has invalid fields")
	p.Errors = errs
	return p
}

// secrets puts the body's write-only fields into d and returns the ones
// a PUT keeps: each is set by a value, cleared by null, and kept (the
// stored one, on PUT) when absent or "". A value of another type is added
// to errs.
func (b *datasourceBody) secrets(d *datasource.Datasource, errs *[]datasource.FieldError) (keep []string) {
	raws := b.Auth.writeOnly()
	for _, f := range datasource.SecretFields {
		dst := d.SecretField(f)
		*dst = datasource.Secret{}
		raw := bytes.TrimSpace(raws[f])
		switch {
		case len(raw) == 0:
			keep = append(keep, f)
			continue
		case string(raw) == "null":
			continue
		}
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			*errs = append(*errs, datasource.FieldError{Field: f, Message: "must be a string (or null to remove it)"})
			continue
		}
		if str == "" {
			keep = append(keep, f)
			continue
		}
		*dst = datasource.NewSecret(str)
	}
	return keep
}

func (s *Server) createDatasource(c *fiber.Ctx) error {
	body, decodeErrs, err := s.decodeDatasource(c)
	if err != nil {
		return err
	}
	d := body.datasource("")
	body.secrets(d, &decodeErrs) // nothing is stored to keep
	if len(decodeErrs) > 0 {
		return invalid(d, decodeErrs)
	}
	if err := coversName(c, d.Name); err != nil {
		return err
	}
	d, a, err := s.cfg.Engine.Create(c.UserContext(), d)
	if err != nil {
		return err
	}
	s.log.Info("datasource created", "datasource", d.ID, "name", d.Name, "auth", d.Auth.Kind(), "grant", d.Auth.GrantType, "by", c.Locals(localActor))
	s.audit(c, datasource.EventCreated, d, createdDetail(d))
	c.Location("/api/v1/datasources/" + d.ID)
	return c.Status(fiber.StatusCreated).JSON(newView(d, a, nil))
}

func (s *Server) listDatasources(c *fiber.Ctx) error {
	list, err := s.cfg.Engine.List(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]DatasourceView, 0, len(list))
	k := apiKeyOf(c)
	for _, l := range list {
		if k != nil && !k.Covers(l.Datasource) {
			continue
		}
		v := newView(l.Datasource, l.Authorization, l.Health)
		if l.Connections != nil {
			v.Connections = &l.Connections
		}
		out = append(out, v)
	}
	return c.JSON(DatasourceList{Datasources: out})
}

func (s *Server) getDatasource(c *fiber.Ctx) error {
	ctx := c.UserContext()
	d, err := s.cfg.Engine.Datasource(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	a, h, err := s.cfg.Engine.View(ctx, datasource.SharedKey(d.ID))
	if err != nil {
		return err
	}
	return c.JSON(newView(d, a, h))
}

func (s *Server) putDatasource(c *fiber.Ctx) error {
	body, decodeErrs, err := s.decodeDatasource(c)
	if err != nil {
		return err
	}
	d := body.datasource(c.Params("id"))
	keep := body.secrets(d, &decodeErrs)
	if len(decodeErrs) > 0 {
		return invalid(d, decodeErrs)
	}
	if err := covers(c, d); err != nil {
		return err // a limited key cannot rename a datasource out of its reach
	}
	d, a, changed, err := s.cfg.Engine.Update(c.UserContext(), grants.Change{Datasource: d, Keep: keep})
	if err != nil {
		return err
	}
	if changed {
		s.log.Info("datasource updated", "datasource", d.ID, "by", c.Locals(localActor))
		s.audit(c, datasource.EventUpdated, d, "")
	}
	_, h, _ := s.cfg.Engine.View(c.UserContext(), datasource.SharedKey(d.ID))
	return c.JSON(newView(d, a, h))
}

func (s *Server) deleteDatasource(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Params("id")
	d, err := s.cfg.Engine.Datasource(ctx, id)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Engine.Delete(ctx, id); err != nil {
		return err
	}
	s.log.Info("datasource deleted", "datasource", id, "by", c.Locals(localActor))
	s.audit(c, datasource.EventDeleted, d, "")
	return c.SendStatus(fiber.StatusNoContent)
}

// credentialViewOf says which of a static auth type's write-only fields
// a holds (see credentialView); nothing for OAuth 2.0.
func credentialViewOf(a *datasource.OAuth2) credentialView {
	var v credentialView
	t := a.Kind()
	if !t.Static() {
		return v
	}
	field := func(name string, s datasource.Secret, set **bool, ref *string) {
		if datasource.UsesField(t, "auth."+name) {
			*set, *ref = datasource.Ptr(!s.IsZero()), s.Ref()
		}
	}
	field("apiKey", a.APIKey, &v.APIKeySet, &v.APIKeyRef)
	field("password", a.Password, &v.PasswordSet, &v.PasswordRef)
	field("token", a.Token, &v.TokenSet, &v.TokenRef)
	field("accessKeyId", a.AccessKeyID, &v.AccessKeyIDSet, &v.AccessKeyIDRef)
	field("secretAccessKey", a.SecretAccessKey, &v.SecretAccessKeySet, &v.SecretAccessKeyRef)
	field("sessionToken", a.SessionToken, &v.SessionTokenSet, &v.SessionTokenRef)
	return v
}

// createdDetail is the detail of a datasource.created event: the auth
// type, and for OAuth 2.0 the grant.
func createdDetail(d *datasource.Datasource) string {
	if t := d.Auth.Kind(); t.Static() {
		return string(t)
	}
	return string(d.Auth.GrantType)
}

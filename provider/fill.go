package provider

import (
	"maps"
	"slices"
	"strings"

	"github.com/grantd/grantd/datasource"
)

// Fill fills d from the catalogue entry d.Provider names (see Lookup): it
// is how a datasource that says "provider": "salesforce" gets Salesforce's
// endpoints, scopes and quirks. Only what d leaves empty is filled
// (Entry.Fill); d.Provider becomes the entry's name, so an alias or
// another case reads back as the catalogue's key. A datasource without a
// provider is left alone.
//
// Fill runs when a datasource is created or replaced, before Normalize,
// and the filled values are stored in the datasource's own fields: a GET
// shows what is used, and a GET–edit–PUT round trip sends every filled
// value back as an explicit one, so it changes nothing. The price is that
// a later change to the catalogue reaches a datasource only when the
// fields are cleared and it is saved again.
//
// Errors: a *NotFoundError (errors.Is ErrNotFound) with close names.
func Fill(d *datasource.Datasource) error {
	name := strings.TrimSpace(d.Provider)
	if name == "" {
		return nil
	}
	e, err := Lookup(name)
	if err != nil {
		return err
	}
	e.Fill(d)
	return nil
}

// Fill fills the fields of d that are empty (zero: "", nil, 0) from e, and
// sets d.Provider to e.Name. Explicit fields win, map entries key by key:
// a customAuthParams or tokenParams entry d sets, even to "" (which is
// then not sent), keeps its value. The grant type defaults to the entry's
// first; the authorization URL, custom authorize parameters and scope
// parameter are filled for authorization code only. connectionConfig is
// never filled: its values are the customer's (Entry.ConnectionConfig
// says which are needed).
//
// An entry of a static auth type (AuthType apiKey, bearer, …) sets the
// datasource's auth.type when it has none, and fills url and, for apiKey,
// where the key goes; nothing of OAuth 2.0.
func (e *Entry) Fill(d *datasource.Datasource) {
	a := &d.Auth
	d.Provider = e.Name
	if !e.OAuth2() {
		if a.Type == "" {
			a.Type = e.AuthType
		}
		fill(&d.URL, e.URL)
		if a.Type == datasource.AuthAPIKey {
			e.fillPlacement(a)
		}
		return
	}
	if a.GrantType == "" && len(e.GrantTypes) > 0 {
		a.GrantType = e.GrantTypes[0]
	}
	code := a.GrantType == datasource.AuthorizationCode
	fill(&d.URL, e.URL)
	fill(&a.AccessTokenURL, e.AccessTokenURL)
	if code {
		fill(&a.AuthorizationURL, e.AuthorizationURL)
		fill(&a.ScopeParam, e.ScopeParam)
		a.CustomAuthParams = merge(a.CustomAuthParams, e.CustomAuthParams)
	}
	if strings.TrimSpace(a.Scope) == "" {
		a.Scope = strings.Join(e.DefaultScopes, " ")
	}
	fill(&a.ScopeSeparator, e.ScopeSeparator)
	if a.ClientAuthentication == "" {
		a.ClientAuthentication = e.ClientAuthentication
	}
	if a.PKCE == nil && e.PKCE == PKCEUnsupported {
		a.PKCE = datasource.Ptr(false)
	}
	a.TokenParams = merge(a.TokenParams, e.TokenParams)
	tr := &a.TokenResponse
	fill(&tr.AccessTokenPath, e.TokenResponse.AccessTokenPath)
	fill(&tr.RefreshTokenPath, e.TokenResponse.RefreshTokenPath)
	fill(&tr.ExpiresInPath, e.TokenResponse.ExpiresInPath)
	if tr.Keep == nil {
		tr.Keep = slices.Clone(e.TokenResponse.Keep)
	}
	if len(a.RefreshOnStatus) == 0 {
		a.RefreshOnStatus = slices.Clone(e.RefreshOnStatus)
	}
	if a.ExpiresInDefault == 0 {
		a.ExpiresInDefault = e.ExpiresInDefault
	}
	e.fillPlacement(a)
}

// fillPlacement fills where the token (or API key) goes.
func (e *Entry) fillPlacement(a *datasource.OAuth2) {
	if a.TokenPlacement == "" {
		a.TokenPlacement = e.TokenPlacement
	}
	fill(&a.HeaderName, e.HeaderName)
	if a.HeaderPrefix == nil && e.HeaderPrefix != nil {
		a.HeaderPrefix = datasource.Ptr(*e.HeaderPrefix)
	}
}

func fill(dst *string, v string) {
	if strings.TrimSpace(*dst) == "" {
		*dst = v
	}
}

// merge returns dst with the entries of src it lacks.
func merge(dst, src map[string]string) map[string]string {
	if len(src) == 0 {
		return dst
	}
	out := maps.Clone(dst)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range src {
		if _, set := out[k]; !set {
			out[k] = v
		}
	}
	return out
}

// Fills returns what e fills in an empty datasource of grant type g (the
// entry's default when ""): the catalogue as the API shows it, in the
// datasource's own field names.
func (e *Entry) Fills(g datasource.GrantType) *datasource.Datasource {
	d := &datasource.Datasource{Auth: datasource.OAuth2{GrantType: g}}
	e.Fill(d)
	return d
}

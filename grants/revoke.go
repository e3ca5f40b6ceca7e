package grants

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grantd/grantd/datasource"
)

// RevokeResult says what Revoke did at the provider.
type RevokeResult struct {
	// AtProvider is true when the provider has a revocation endpoint
	// (RFC 7009, found in its metadata) and accepted the request.
	AtProvider bool
	// ProviderError describes a failed revocation request; the tokens are
	// erased anyway.
	ProviderError string
	Authorization datasource.Authorization
}

// Revoke revokes the tokens of k — a shared datasource's or a
// connection's — at the provider when it has a revocation endpoint
// (RFC 7009: the refresh token, which takes its access tokens with it, then
// the access token) and erases them from the store. It becomes
// unauthorized (a connection stays, unauthorized); a client-credentials
// datasource gets a new token only when next used or refreshed.
func (e *Engine) Revoke(ctx context.Context, k datasource.Key) (*RevokeResult, error) {
	res := &RevokeResult{}
	err := e.exclusive(ctx, k, func(en *entry, cur *datasource.TokenRecord) error {
		d := en.ds
		if d.Auth.Kind().Static() && k.EndUser == "" {
			// A shared credential is configuration: remove it with a PUT.
			// An end user's is erased here, like tokens.
			return ErrNoTokens
		}
		if cur != nil && (cur.HasToken() || !cur.RefreshToken.IsZero()) {
			var connConfig map[string]string
			if en.conn != nil {
				connConfig = en.conn.Config
			}
			ok, perr := e.revokeAtProvider(ctx, d, connConfig, cur)
			res.AtProvider, res.ProviderError = ok, perr
		}
		var gen uint64
		if cur != nil {
			gen = cur.Generation
		}
		nr := &datasource.TokenRecord{Generation: gen + 1, Status: datasource.StatusUnauthorized}
		if err := e.save(ctx, k, nr, gen); err != nil {
			return err
		}
		e.install(en, d, nr)
		res.Authorization = nr.Authorization()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// revokeAtProvider revokes rec's tokens at the provider of d, its token
// endpoint filled with connConfig over d's connectionConfig.
func (e *Engine) revokeAtProvider(ctx context.Context, d *datasource.Datasource, connConfig map[string]string, rec *datasource.TokenRecord) (bool, string) {
	d, err := e.withSecret(ctx, d)
	if err != nil {
		return false, err.Error()
	}
	if d, err = expandedFor(d, connConfig); err != nil {
		return false, err.Error()
	}
	hc, err := e.httpClient(d)
	if err != nil {
		return false, err.Error()
	}
	md := e.disc.lookup(ctx, hc, d.Auth.AccessTokenURL)
	if md == nil || md.RevocationEndpoint == "" {
		return false, ""
	}
	style := d.Auth.ClientAuthentication
	if style == datasource.ClientAuthAuto {
		style = rec.DetectedAuth
		if s, ok := md.keyMethod(&d.Auth); style == "" && ok {
			style = s
		}
		if s, ok := md.authMethod(); style == "" && ok {
			style = datasource.ClientAuth(s)
		}
	}
	revoked := false
	for _, t := range []struct {
		v    datasource.Secret
		hint string
	}{{rec.RefreshToken, "refresh_token"}, {rec.AccessToken, "access_token"}} {
		if t.v.IsZero() {
			continue
		}
		if err := revokeOne(ctx, hc, md.RevocationEndpoint, d, style, t.v, t.hint, e.clock.Now); err != nil {
			return revoked, scrub(err.Error(), append(sentForms(d), encodings(t.v.Reveal())...))
		}
		revoked = true
	}
	return revoked, ""
}

// revokeOne is one RFC 7009 §2.1 request.
func revokeOne(ctx context.Context, hc *http.Client, endpoint string, d *datasource.Datasource, style datasource.ClientAuth, tok datasource.Secret, hint string, now func() time.Time) error {
	form := url.Values{"token": {tok.Reveal()}, "token_type_hint": {hint}}
	keyed := style == datasource.ClientAuthPrivateKeyJWT || style == datasource.ClientAuthTLS
	basic := !keyed && style != datasource.ClientAuthBody && !d.Auth.ClientSecret.IsZero()
	if keyed {
		// The same client assertion (its aud the token endpoint, which
		// servers accept for every endpoint they authenticate clients at)
		// or client certificate as at the token endpoint.
		if _, _, _, err := (&Call{Datasource: d, Style: style, Now: now}).authenticate(form); err != nil {
			return err
		}
		form.Set("client_id", d.Auth.ClientID)
	} else if !basic {
		form.Set("client_id", d.Auth.ClientID)
		if !d.Auth.ClientSecret.IsZero() {
			form.Set("client_secret", d.Auth.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(d.Auth.ClientID), url.QueryEscape(d.Auth.ClientSecret.Reveal()))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("revocation endpoint unreachable")
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	// RFC 7009 §2.2: 200 also for tokens the server did not know.
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered HTTP %d", resp.StatusCode)
	}
	return nil
}

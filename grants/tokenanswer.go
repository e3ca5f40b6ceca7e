package grants

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/grantd/grantd/datasource"
	"golang.org/x/oauth2"
)

// Token answers that are not RFC 6749 §5.1 shaped (auth.tokenResponse)
// are mapped before x/oauth2 reads them: a transport on the token
// request's client copies the access token, refresh token and expires_in
// found at the configured JSON Pointers to the standard top-level fields.
// Doing it under x/oauth2 keeps its status and error handling (RFC 6749
// §5.2, an "error" in a 200 answer) for every grant and the code exchange
// alike. A path that finds nothing leaves the standard field as it is: a
// refresh answer is often flat where the first answer nests.

// maxTokenAnswer bounds the token answer read for mapping, as x/oauth2
// bounds its own read.
const maxTokenAnswer = 1 << 20

// mappedClient returns hc, or a copy whose transport maps token answers
// from POSTs to ds's token endpoint as ds.Auth.TokenResponse says.
func mappedClient(hc *http.Client, ds *datasource.Datasource) *http.Client {
	tr := ds.Auth.TokenResponse
	if !tr.Remaps() || hc == nil {
		return hc
	}
	u, err := url.Parse(ds.Auth.AccessTokenURL)
	if err != nil {
		return hc
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c := *hc
	c.Transport = &answerMapper{base: base, host: u.Host, path: u.Path, tr: tr}
	return &c
}

type answerMapper struct {
	base       http.RoundTripper
	host, path string
	tr         datasource.TokenResponse
}

func (m *answerMapper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || req.URL.Host != m.host || req.URL.Path != m.path || resp.StatusCode/100 != 2 {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if out, ok := mapAnswer(body, m.tr); ok {
		body = out
		resp.Header.Set("Content-Type", "application/json")
	}
	resp.Header.Del("Content-Length")
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// mapAnswer returns the JSON token answer body with the fields tr points
// to copied to the standard ones, and whether it changed anything.
func mapAnswer(body []byte, tr datasource.TokenResponse) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, false
	}
	changed := false
	for _, f := range []struct {
		path, field string
		number      bool
	}{
		{tr.AccessTokenPath, "access_token", false},
		{tr.RefreshTokenPath, "refresh_token", false},
		{tr.ExpiresInPath, "expires_in", true},
	} {
		if f.path == "" {
			continue
		}
		toks, err := datasource.ParsePointer(f.path)
		if err != nil {
			continue
		}
		v, ok := datasource.Resolve(doc, toks)
		if !ok {
			continue
		}
		switch x := v.(type) {
		case string:
			if f.number {
				n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
				if err != nil {
					continue
				}
				doc[f.field] = n
			} else if x != "" {
				doc[f.field] = x
			} else {
				continue
			}
		case json.Number:
			if !f.number {
				continue
			}
			doc[f.field] = x
		default:
			continue
		}
		changed = true
	}
	if !changed {
		return nil, false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false
	}
	return out, true
}

// keptFields returns the fields of tok's answer a datasource keeps (keep),
// as text: strings as they are, numbers and booleans written out. A field
// the answer lacks keeps its value from prev (a refresh answer without
// Salesforce's instance_url keeps the one from the authorization). nil
// when nothing is kept.
func keptFields(tok *oauth2.Token, keep []string, prev map[string]string) map[string]string {
	if len(keep) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, k := range keep {
		var s string
		switch x := tok.Extra(k).(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case json.Number:
			s = x.String()
		case bool:
			s = strconv.FormatBool(x)
		}
		if s == "" || len(s) > datasource.MaxKeptLen {
			if old, ok := prev[k]; ok {
				out[k] = old
			}
			continue
		}
		out[k] = s
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

package client

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
)

// ErrKeyNotID is returned by RevokeAPIKey for a value that starts like an
// API key (gk_…) but is not one, so its id cannot be read from it. The
// value is not sent: a key must never end up in a URL.
var ErrKeyNotID = errors.New("client: that starts like an API key but is not one; pass the key's id (key_…)")

// CreateAPIKey makes an API key called name that may do what perms allow,
// on the datasources listed (names or ids; none for all). The answer's Key
// is the key itself, shown this once: grantd keeps only its hash. A
// client made with New(baseURL, Key) then works like one with the admin
// token, within those permissions and datasources.
//
// Invalid input is a 400 Problem naming each bad field; a caller that is
// not allowed to make keys (an API key without admin), a 403 Problem
// whose Permission is "admin"; a grantd without a key store, a 404.
func (c *Client) CreateAPIKey(ctx context.Context, name string, perms []datasource.Permission, datasources []string) (*api.APIKeyCreated, error) {
	if datasources == nil {
		datasources = []string{}
	}
	var k api.APIKeyCreated
	err := c.do(ctx, http.MethodPost, "/api/v1/api-keys", api.APIKeyRequest{Name: name, Permissions: perms, Datasources: datasources}, &k)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// APIKeys returns every API key, oldest first; never the keys themselves.
// LastUsedAt is coarse: grantd records a key's use at most once a minute.
func (c *Client) APIKeys(ctx context.Context) ([]api.APIKeyView, error) {
	var l api.APIKeyList
	if err := c.do(ctx, http.MethodGet, "/api/v1/api-keys", nil, &l); err != nil {
		return nil, err
	}
	return l.APIKeys, nil
}

// RevokeAPIKey revokes the API key with the id (key_…): grantd refuses it
// from now on, on every replica. An unknown id is a 404 Problem. Given the
// key itself (gk_…) instead of its id, it sends only the id (see
// APIKeyID); one that starts like a key but is not one is ErrKeyNotID,
// and nothing is sent.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	id, err := APIKeyID(id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/api/v1/api-keys/"+url.PathEscape(id), nil, nil)
}

// APIKeyID returns the id of the API key s: a key, "gk_<16 hex>_<secret>",
// is the key of the id "key_<16 hex>", which is not secret. Anything that
// does not start with "gk_" is returned as it is (an id already). Something
// that starts like a key but is not one is ErrKeyNotID.
func APIKeyID(s string) (string, error) {
	if !strings.HasPrefix(s, "gk_") {
		return s, nil
	}
	hexID, _, ok := strings.Cut(strings.TrimPrefix(s, "gk_"), "_")
	if !ok || len(hexID) != 16 {
		return "", ErrKeyNotID
	}
	if _, err := hex.DecodeString(hexID); err != nil {
		return "", ErrKeyNotID
	}
	return "key_" + hexID, nil
}

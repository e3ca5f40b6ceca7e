package api

import (
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource"
)

// localKey holds the *datasource.APIKey a request was authenticated by;
// absent for the admin token and a UI session, which may do everything.
const localKey = "grantd.key"

// apiKeyOf returns the API key c was authenticated by, nil for the admin
// token or a session.
func apiKeyOf(c *fiber.Ctx) *datasource.APIKey {
	k, _ := c.Locals(localKey).(*datasource.APIKey)
	return k
}

// need is the permission check of one route: a request authenticated by
// an API key must hold p, and, on a route about one datasource (":id"),
// the key must cover that datasource. The admin token and UI sessions
// pass. Every authenticated route is registered with exactly one need.
func (s *Server) need(p datasource.Permission) fiber.Handler {
	return func(c *fiber.Ctx) error {
		k := apiKeyOf(c)
		if k == nil {
			return c.Next()
		}
		if !k.Allows(p) {
			return forbidden(k, fmt.Sprintf("the %q permission", p), string(p), "")
		}
		if id := c.Params("id"); id != "" && len(k.Datasources) > 0 {
			d, err := s.cfg.Engine.Datasource(c.UserContext(), id)
			if err != nil && !errors.Is(err, datasource.ErrNotFound) {
				return err
			}
			// An unknown id is refused like one not covered: a limited
			// key learns nothing about datasources beyond its own.
			if d == nil || !k.Covers(d) {
				return forbidden(k, "datasource "+id, "", id)
			}
		}
		return c.Next()
	}
}

// covers refuses a request by a limited key about datasource d (named in
// a body, not the path).
func covers(c *fiber.Ctx, d *datasource.Datasource) error {
	if k := apiKeyOf(c); k != nil && !k.Covers(d) {
		return forbidden(k, "datasource "+d.Name, "", d.ID)
	}
	return nil
}

// coversName refuses a limited key creating or renaming a datasource to
// a name it does not list.
func coversName(c *fiber.Ctx, name string) error {
	if k := apiKeyOf(c); k != nil && !k.Covers(&datasource.Datasource{Name: name}) {
		return forbidden(k, "datasource "+name, "", name)
	}
	return nil
}

func forbidden(k *datasource.APIKey, what, perm, ds string) *Problem {
	p := probForbidden.with(fmt.Sprintf("the API key %s (%s) lacks %s", k.ID, k.Name, what))
	p.Permission, p.Datasource = perm, ds
	return p
}

// APIKeyRequest is the body of POST /api/v1/api-keys.
type APIKeyRequest struct {
	Name        string                  `json:"name"`
	Permissions []datasource.Permission `json:"permissions"`
	// Datasources limits the key to these datasources (names or ids);
	// empty means all.
	Datasources []string `json:"datasources"`
}

// APIKeyView is an API key as the API shows it: never the key itself.
type APIKeyView struct {
	ID          string                  `json:"id"`
	Name        string                  `json:"name"`
	Permissions []datasource.Permission `json:"permissions"`
	Datasources []string                `json:"datasources"`
	CreatedAt   time.Time               `json:"createdAt"`
	CreatedBy   string                  `json:"createdBy"`
	// LastUsedAt is coarse: written at most once a minute.
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// APIKeyCreated is the answer to POST /api/v1/api-keys: the view and,
// this once, the key.
type APIKeyCreated struct {
	APIKeyView
	Key string `json:"key"`
}

// APIKeyList is the answer to GET /api/v1/api-keys.
type APIKeyList struct {
	APIKeys []APIKeyView `json:"apiKeys"`
}

func apiKeyView(k *datasource.APIKey) APIKeyView {
	v := APIKeyView{ID: k.ID, Name: k.Name, Permissions: k.Permissions, Datasources: k.Datasources,
		CreatedAt: k.CreatedAt.UTC(), CreatedBy: k.CreatedBy}
	if v.Datasources == nil {
		v.Datasources = []string{}
	}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt.UTC()
		v.LastUsedAt = &t
	}
	return v
}

func (s *Server) keys() (*access.Keys, error) {
	if s.cfg.Keys == nil {
		return nil, probNotFound.with("this grantd has no API keys (no key store configured)")
	}
	return s.cfg.Keys, nil
}

func (s *Server) createAPIKey(c *fiber.Ctx) error {
	keys, err := s.keys()
	if err != nil {
		return err
	}
	b, err := s.readJSONBody(c)
	if err != nil {
		return err
	}
	var req APIKeyRequest
	if err := decodeStrict(b, &req); err != nil {
		return err
	}
	if err := grantable(apiKeyOf(c), req); err != nil {
		return err
	}
	actor, _ := c.Locals(localActor).(string)
	k, key, err := keys.Create(c.UserContext(), datasource.APIKey{Name: req.Name, Permissions: req.Permissions, Datasources: req.Datasources}, actor)
	if err != nil {
		return err
	}
	s.log.Info("API key created", "key", k.ID, "name", k.Name, "permissions", k.Permissions, "by", actor)
	s.audit(c, datasource.EventAPIKeyCreated, nil, access.Actor(k))
	c.Set(fiber.HeaderCacheControl, "no-store") // the answer holds the key
	return c.Status(fiber.StatusCreated).JSON(APIKeyCreated{APIKeyView: apiKeyView(k), Key: key})
}

// grantable refuses a key limited to datasources (an admin key may make
// keys) making a key that reaches beyond its own datasources: the new key
// must list only datasources its maker lists, by the same name or id.
func grantable(maker *datasource.APIKey, req APIKeyRequest) error {
	if maker == nil || len(maker.Datasources) == 0 {
		return nil
	}
	if len(req.Datasources) == 0 {
		return forbidden(maker, "access to every datasource, so the new key must list datasources", "", "")
	}
	for _, d := range req.Datasources {
		listed := false
		for _, m := range maker.Datasources {
			listed = listed || m == d || datasource.NameKey(m) == datasource.NameKey(d)
		}
		if !listed {
			return forbidden(maker, "datasource "+d, "", d)
		}
	}
	return nil
}

func (s *Server) listAPIKeys(c *fiber.Ctx) error {
	keys, err := s.keys()
	if err != nil {
		return err
	}
	list := keys.List()
	out := APIKeyList{APIKeys: make([]APIKeyView, len(list))}
	for i, k := range list {
		out.APIKeys[i] = apiKeyView(k)
	}
	return c.JSON(out)
}

func (s *Server) deleteAPIKey(c *fiber.Ctx) error {
	keys, err := s.keys()
	if err != nil {
		return err
	}
	k, err := keys.Revoke(c.UserContext(), c.Params("keyId"))
	if errors.Is(err, access.ErrNoSuchKey) {
		return probNotFound.with("no such API key")
	}
	if err != nil {
		return err
	}
	s.log.Info("API key revoked", "key", k.ID, "name", k.Name, "by", c.Locals(localActor))
	s.audit(c, datasource.EventAPIKeyRevoked, nil, access.Actor(k))
	return c.SendStatus(fiber.StatusNoContent)
}

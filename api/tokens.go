package api

import (
	"errors"
	"math"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

func (s *Server) status(c *fiber.Ctx) error {
	a, err := s.cfg.Engine.Status(c.UserContext(), datasource.SharedKey(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// refresh makes a token request now, ignoring backoff, and answers the
// resulting status; a failed request shows in status and lastError.
func (s *Server) refresh(c *fiber.Ctx) error {
	a, err := s.cfg.Engine.Refresh(c.UserContext(), datasource.SharedKey(c.Params("id")))
	if err != nil {
		return sharedOnly(err)
	}
	s.log.Info("refresh requested", "datasource", c.Params("id"), "status", a.Status, "by", c.Locals(localActor))
	return c.JSON(a)
}

// revoke revokes at the provider (RFC 7009) when it can and erases the
// tokens. The answer is the new status plus what happened at the provider.
func (s *Server) revoke(c *fiber.Ctx) error {
	res, err := s.cfg.Engine.Revoke(c.UserContext(), datasource.SharedKey(c.Params("id")))
	if err != nil {
		return sharedOnly(err)
	}
	s.log.Info("tokens revoked", "datasource", c.Params("id"), "atProvider", res.AtProvider, "by", c.Locals(localActor))
	detail := "erased"
	if res.AtProvider {
		detail = "revoked at the provider and erased"
	}
	s.auditID(c, datasource.EventRevoked, c.Params("id"), detail)
	return c.JSON(revokeAnswer(res))
}

// revokeAnswer is the answer of a revocation: the new status and what
// happened at the provider.
func revokeAnswer(res *grants.RevokeResult) RevokeAnswer {
	a := res.Authorization
	return RevokeAnswer{
		Status:            a.Status,
		ExpiresAt:         a.ExpiresAt,
		LastRefreshedAt:   a.LastRefreshedAt,
		LastError:         a.LastError,
		HasRefreshToken:   a.HasRefreshToken,
		GrantedScope:      a.GrantedScope,
		RevokedAtProvider: res.AtProvider,
		ProviderError:     res.ProviderError,
	}
}

// token hands the raw access token out, only for datasources that set
// exposeToken: an OAuth 2.0 datasource's access token, a bearer one's
// token, an apiKey one's key (without expires_in: it does not expire).
// basic, awsSigV4 and none have no token to hand out.
func (s *Server) token(c *fiber.Ctx) error {
	ctx := c.UserContext()
	d, err := s.cfg.Engine.Datasource(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	if !datasource.UsesField(d.Auth.Kind(), "auth.exposeToken") {
		// Before exposeToken, which such a type does not have.
		return probNoTokens.with("this datasource authenticates with auth.type " + string(d.Auth.Kind()) +
			": a password, an AWS signature or nothing, not a token a caller could use itself; call it through the proxy " +
			"(only oauth2, bearer and apiKey datasources with exposeToken hand their token out)")
	}
	if !d.Auth.ExposeToken {
		return probNotExposed.with("this datasource does not set exposeToken; use the proxy")
	}
	k := keyOf(c, d.ID)
	if !d.PerUser() {
		k.EndUser = ""
	}
	target, err := s.cfg.Engine.Resolve(ctx, k)
	if err != nil {
		return s.notConnected(c, k, err)
	}
	t, err := withSubjectToken(c, target).Token(ctx)
	if err != nil {
		return s.notConnected(c, k, err)
	}
	s.log.Info("access token handed out", "datasource", d.ID, "endUser", k.EndUser, "by", c.Locals(localActor))
	s.audit(c, datasource.EventTokenExposed, d, "")
	c.Set(fiber.HeaderCacheControl, "no-store")
	a := TokenAnswer{AccessToken: t.Value().Reveal(), TokenType: t.Type}
	if !t.Expiry.IsZero() { // a bearer token or an API key does not expire
		a.ExpiresIn = int64(math.Max(0, t.Expiry.Sub(s.now()).Seconds()))
	}
	return c.JSON(a)
}

// sharedOnly answers a datasource-wide route (refresh, revoke, authorize)
// used on a per-user datasource: it points at the routes that take the
// end user, rather than at a header the route does not read.
func sharedOnly(err error) error {
	if !errors.Is(err, grants.ErrEndUserRequired) {
		return err
	}
	q := probInvalid.with("this datasource is per user: act on one end user's connection under …/connections/{endUserId}, or connect one with POST /api/v1/connect/sessions")
	q.Errors = []datasource.FieldError{{Field: "connectionMode", Message: "is perUser: this route acts on a shared datasource only"}}
	return q
}

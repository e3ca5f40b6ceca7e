package api

import (
	"math"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
)

func (s *Server) status(c *fiber.Ctx) error {
	a, err := s.cfg.Engine.Status(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// refresh makes a token request now, ignoring backoff, and answers the
// resulting status; a failed request shows in status and lastError.
func (s *Server) refresh(c *fiber.Ctx) error {
	a, err := s.cfg.Engine.Refresh(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	s.log.Info("refresh requested", "datasource", c.Params("id"), "status", a.Status, "by", c.Locals(localActor))
	return c.JSON(a)
}

// revoke revokes at the provider (RFC 7009) when it can and erases the
// tokens. The answer is the new status plus what happened at the provider.
func (s *Server) revoke(c *fiber.Ctx) error {
	res, err := s.cfg.Engine.Revoke(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	s.log.Info("tokens revoked", "datasource", c.Params("id"), "atProvider", res.AtProvider, "by", c.Locals(localActor))
	detail := "erased"
	if res.AtProvider {
		detail = "revoked at the provider and erased"
	}
	s.auditID(c, datasource.EventRevoked, c.Params("id"), detail)
	a := res.Authorization
	return c.JSON(RevokeAnswer{
		Status:            a.Status,
		ExpiresAt:         a.ExpiresAt,
		LastRefreshedAt:   a.LastRefreshedAt,
		LastError:         a.LastError,
		HasRefreshToken:   a.HasRefreshToken,
		GrantedScope:      a.GrantedScope,
		RevokedAtProvider: res.AtProvider,
		ProviderError:     res.ProviderError,
	})
}

// token hands the raw access token out, only for datasources that set
// exposeToken.
func (s *Server) token(c *fiber.Ctx) error {
	ctx := c.UserContext()
	target, err := s.cfg.Engine.Resolve(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	d := target.Datasource()
	if !d.Auth.ExposeToken {
		return probNotExposed.with("this datasource does not set exposeToken; use the proxy")
	}
	t, err := withSubjectToken(c, target).Token(ctx)
	if err != nil {
		return err
	}
	s.log.Info("access token handed out", "datasource", d.ID, "by", c.Locals(localActor))
	s.audit(c, datasource.EventTokenExposed, d, "")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(TokenAnswer{
		AccessToken: t.Value().Reveal(),
		TokenType:   t.Type,
		ExpiresIn:   int64(math.Max(0, t.Expiry.Sub(s.now()).Seconds())),
	})
}

package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/provider"
)

// ProviderList is the body of GET /api/v1/providers: the catalogue a
// datasource's "provider" names an entry of, sorted by title.
type ProviderList struct {
	Providers []*provider.Entry `json:"providers"`
}

// listProviders answers GET /api/v1/providers. The catalogue holds no
// secret and no datasource: any credential that may read may list it.
func (s *Server) listProviders(c *fiber.Ctx) error {
	return c.JSON(ProviderList{Providers: provider.All()})
}

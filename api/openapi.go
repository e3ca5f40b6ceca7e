package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDoc is the OpenAPI 3 description of this API. A test checks it
// against the routes the server really registers.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI document.
func OpenAPI() []byte { return openAPIDoc }

func (s *Server) openapi(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openAPIDoc)
}

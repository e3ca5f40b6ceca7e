package api

import (
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// uiRoutes serves the embedded web UI: its files as they are, and
// index.html for the UI's own pages (/, /datasources/…), which the UI
// routes in the browser. Static files need no authentication; everything
// they show comes from the authenticated API.
func (s *Server) uiRoutes() {
	s.app.Get("/*", func(c *fiber.Ctx) error {
		p := strings.TrimPrefix(c.Path(), "/")
		// The UI's own pages get index.html; /api-keys is its page of API
		// keys (ui/static/js/apikeys.js), an exact match so that nothing
		// under it (no file) is answered with the page.
		if p == "" || strings.HasPrefix(p, "datasources") || p == "login" || p == "api-keys" {
			p = "index.html"
		}
		p = path.Clean(p)
		if strings.HasPrefix(p, "..") || strings.HasPrefix(p, "/") {
			return probNotFound.with("no such file")
		}
		b, err := fs.ReadFile(s.cfg.UI, p)
		if err != nil {
			return probNotFound.with("no such file")
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.Set(fiber.HeaderContentType, ct)
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set("Referrer-Policy", "no-referrer")
		c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if p == "index.html" {
			c.Set(fiber.HeaderCacheControl, "no-cache")
		}
		return c.Send(b)
	})
}

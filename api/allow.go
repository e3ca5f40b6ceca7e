package api

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// allowTable knows which methods each route takes, so that a known path
// asked with another method is answered 405 with Allow (RFC 9110 §15.5.6)
// rather than 404.
type allowTable []allowRoute

type allowRoute struct {
	segs   []string // "" for a parameter, "*" for the rest
	method string
}

// newAllowTable builds the table from the app's routes, leaving out the
// catch-alls (the UI's GET /* and the API's not-found route), which would
// make every path look known.
func newAllowTable(routes []fiber.Route) allowTable {
	var t allowTable
	for _, r := range routes {
		if r.Path == "/*" || r.Path == "/api/v1/*" || r.Method == "USE" {
			continue
		}
		var segs []string
		for _, seg := range strings.Split(strings.Trim(r.Path, "/"), "/") {
			switch {
			case seg == "*":
				segs = append(segs, "*")
			case strings.HasPrefix(seg, ":"):
				segs = append(segs, "")
			default:
				segs = append(segs, seg)
			}
		}
		t = append(t, allowRoute{segs: segs, method: r.Method})
	}
	return t
}

// methods returns the methods the routes matching path take, sorted, or
// nil for an unknown path.
func (t allowTable) methods(path string) []string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, r := range t {
		if r.matches(parts) && !slices.Contains(out, r.method) {
			out = append(out, r.method)
		}
	}
	slices.Sort(out)
	return out
}

func (r allowRoute) matches(parts []string) bool {
	for i, seg := range r.segs {
		if seg == "*" {
			return true
		}
		if i >= len(parts) || seg != "" && seg != parts[i] || seg == "" && parts[i] == "" {
			return false
		}
	}
	return len(parts) == len(r.segs)
}

// noRoute answers a request no route took: 405 with Allow when the path
// is known under other methods, else 404.
func (s *Server) noRoute(c *fiber.Ctx) error {
	if m := s.allow.methods(c.Path()); len(m) > 0 {
		c.Set(fiber.HeaderAllow, strings.Join(m, ", "))
		return probMethod.with("this route takes " + strings.Join(m, ", "))
	}
	if strings.HasPrefix(c.Path(), "/api/v1/") {
		return probNotFound.with("no such API route")
	}
	return probNotFound.with("no such route")
}

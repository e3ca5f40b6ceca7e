package api

import "github.com/grantd/grantd/outbound"

// errPathEscape is returned by joinProxyPath for a path that could leave
// the datasource's base path.
var errPathEscape = outbound.ErrPathEscape

// joinProxyPath is outbound.JoinPath: the rules that keep a proxied path
// inside the datasource's base URL are one set, shared with MCP.
func joinProxyPath(basePath, rest string) (string, error) { return outbound.JoinPath(basePath, rest) }

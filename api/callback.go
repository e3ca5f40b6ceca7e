package api

import (
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

const bindingCookie = "grantd_flow"

// authorize starts a flow for a program: it answers the provider URL to
// send the person to. The state is bound to the datasource only.
func (s *Server) authorize(c *fiber.Ctx) error {
	var body AuthorizeRequest
	b, err := s.readJSONBody(c)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := decodeStrict(b, &body); err != nil {
			return err
		}
	}
	returnTo, err := checkReturnTo(body.ReturnTo, "returnTo")
	if err != nil {
		return err
	}
	u, err := s.cfg.Engine.AuthorizeURL(c.UserContext(), c.Params("id"), grants.AuthorizeRequest{ReturnTo: returnTo})
	if err != nil {
		return sharedOnly(err)
	}
	s.log.Info("authorization started", "datasource", c.Params("id"), "via", "api", "by", c.Locals(localActor))
	s.auditID(c, datasource.EventAuthorizeStarted, c.Params("id"), "via the API")
	return c.JSON(AuthorizeAnswer{AuthorizeURL: u})
}

// startPath is where a browser starts the flow of datasource id.
func startPath(id string) string {
	return "/api/v1/datasources/" + url.PathEscape(id) + "/authorize/start"
}

// mintStart hands out a one-time start URL for a browser flow (see
// grants.Engine.NewStart): the UI POSTs here — with the CSRF header, as
// for every cookie-authenticated POST — and then navigates to the URL.
// The URL is relative: the browser opens it where it is signed in.
func (s *Server) mintStart(c *fiber.Ctx) error {
	var body AuthorizeRequest
	b, err := s.readJSONBody(c)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := decodeStrict(b, &body); err != nil {
			return err
		}
	}
	returnTo, err := checkReturnTo(body.ReturnTo, "returnTo")
	if err != nil {
		return err
	}
	tok, exp, err := s.cfg.Engine.NewStart(c.UserContext(), c.Params("id"), returnTo)
	if err != nil {
		return sharedOnly(err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{
		"startUrl":  startPath(c.Params("id")) + "?" + url.Values{"start": {tok}}.Encode(),
		"expiresAt": exp.UTC().Format(time.RFC3339),
	})
}

// authorizeStart starts a flow for a browser: it redeems the one-time
// start token, sets (or reuses) the binding cookie, binds the state to
// it, and redirects to the provider. Without a valid start token it
// changes nothing: a GET is what any page can make a browser send.
func (s *Server) authorizeStart(c *fiber.Ctx) error {
	q := c.Context().QueryArgs()
	tok := string(q.Peek("start"))
	if tok == "" || len(q.PeekMulti("start")) > 1 {
		p := probInvalid.with("starting an authorization in a browser needs a one-time start token")
		p.Errors = []datasource.FieldError{{Field: "start", Message: "required, once: the startUrl from POST " + startPath(c.Params("id"))}}
		return p
	}
	if q.Has("returnTo") {
		p := probInvalid.with("returnTo is fixed when the start URL is minted")
		p.Errors = []datasource.FieldError{{Field: "returnTo", Message: "give it to POST " + startPath(c.Params("id")) + ", not here"}}
		return p
	}
	binding := c.Cookies(bindingCookie)
	if len(binding) < 32 || len(binding) > 64 {
		binding = grants.NewBinding()
	}
	u, err := s.cfg.Engine.RedeemStart(c.UserContext(), c.Params("id"), tok, binding)
	if err != nil {
		return err
	}
	s.setBindingCookie(c, binding)
	s.log.Info("authorization started", "datasource", c.Params("id"), "via", "browser", "by", c.Locals(localActor))
	s.auditID(c, datasource.EventAuthorizeStarted, c.Params("id"), "in a browser")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(u, fiber.StatusFound)
}

// setBindingCookie ties flows started in this browser to it: the callback
// refuses a state started elsewhere.
func (s *Server) setBindingCookie(c *fiber.Ctx, binding string) {
	c.Cookie(&fiber.Cookie{
		Name:     bindingCookie,
		Value:    binding,
		Path:     "/api/v1/datasources/authorize",
		MaxAge:   int(datasource.StateTTL.Seconds()),
		HTTPOnly: true,
		Secure:   s.secure,
		// Lax, not Strict: the provider, another site, sends the browser
		// back to the callback with a top-level GET, which must carry it.
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// callback is the redirect URI. An unknown, used, expired or foreign state
// answers 400 with a problem page and changes nothing: there is no
// returnTo to trust. Otherwise the outcome goes to the stored returnTo.
func (s *Server) callback(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer") // the URL holds the code
	q := c.Context().QueryArgs()
	for _, k := range []string{"state", "code", "error", "error_description"} {
		if len(q.PeekMulti(k)) > 1 {
			return probInvalidState.with("the parameter " + k + " appears more than once")
		}
	}
	res, err := s.cfg.Engine.Callback(c.UserContext(), grants.CallbackRequest{
		State:            string(q.Peek("state")),
		Code:             string(q.Peek("code")),
		Error:            string(q.Peek("error")),
		ErrorDescription: string(q.Peek("error_description")),
		Binding:          c.Cookies(bindingCookie),
	})
	if err != nil {
		s.log.Warn("callback refused", "reason", err.Error(), "remote", c.IP())
		return err
	}
	return s.redirectResult(c, res, fiber.StatusFound)
}

// redirectResult sends the browser to the flow's returnTo (default the
// UI page of the datasource) with the outcome in the query, and records
// it.
func (s *Server) redirectResult(c *fiber.Ctx, res *grants.CallbackResult, status int) error {
	target := res.ReturnTo
	if target == "" {
		target = "/datasources/" + res.DatasourceID
	}
	v := url.Values{"datasource": {res.DatasourceID}}
	if res.EndUserID != "" {
		v.Set("endUserId", res.EndUserID)
	}
	c.Locals(localActor, "browser")
	switch {
	case res.ErrorCode == "" && res.EndUserID != "":
		v.Set("result", "authorized")
		s.log.Info("connection authorized", "datasource", res.DatasourceID, "endUser", res.EndUserID, "reconnected", res.Reconnected)
		typ := datasource.EventConnectionCreated
		if res.Reconnected {
			typ = datasource.EventConnectionReauthorize
		}
		s.auditConnection(c, typ, res.DatasourceID, res.EndUserID, "")
	case res.ErrorCode == "":
		v.Set("result", "authorized")
		s.log.Info("authorization completed", "datasource", res.DatasourceID)
		s.auditID(c, datasource.EventAuthorizeComplete, res.DatasourceID, "")
	default:
		if res.EndUserID != "" {
			s.auditConnection(c, datasource.EventAuthorizeFailed, res.DatasourceID, res.EndUserID, res.ErrorCode+": "+res.ErrorDescription)
		} else {
			s.auditID(c, datasource.EventAuthorizeFailed, res.DatasourceID, res.ErrorCode+": "+res.ErrorDescription)
		}
		v.Set("result", "error")
		v.Set("error", res.ErrorCode)
		if res.ErrorDescription != "" {
			v.Set("error_description", res.ErrorDescription)
		}
	}
	return c.Redirect(appendQuery(target, v), status)
}

// auditID is audit for a datasource known by id (its name looked up).
func (s *Server) auditID(c *fiber.Ctx, typ, id, detail string) {
	d, err := s.cfg.Engine.Datasource(c.UserContext(), id)
	if err != nil {
		d = &datasource.Datasource{ID: id}
	}
	s.audit(c, typ, d, detail)
}

// checkReturnTo accepts only a relative path on grantd's own origin: it
// starts with one "/", has no scheme, host, backslash or control
// characters. Anything else could send the person to another site after
// authorizing (an open redirect).
func checkReturnTo(raw, field string) (string, error) {
	if raw == "" {
		return "", nil
	}
	bad := func(msg string) error {
		p := probInvalid.with("returnTo must be a relative path")
		p.Errors = []datasource.FieldError{{Field: field, Message: msg}}
		return p
	}
	if len(raw) > 2048 {
		return "", bad("must be at most 2048 bytes")
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 || strings.Contains(raw, "\\") {
		return "", bad("must not contain white space, control characters or backslashes")
	}
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
		return "", bad(`must be a path on this server starting with a single "/"`)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", bad("must be a path on this server, not a URL")
	}
	if strings.Contains(strings.ToLower(raw), "%2f") || strings.Contains(strings.ToLower(raw), "%5c") {
		return "", bad("must not contain encoded slashes")
	}
	return raw, nil
}

// appendQuery adds v to the query of a relative URL, before any fragment.
func appendQuery(target string, v url.Values) string {
	frag := ""
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target, frag = target[:i], target[i:]
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + v.Encode() + frag
}

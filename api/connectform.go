package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// The connect page of a per-user datasource of a static auth type (API
// key, Basic, bearer token, AWS keys): the connect link opens a form on
// grantd, where the end user enters their own credential, instead of
// going to a provider. The value is posted to the same link, sealed on
// the end user's connection, and never shown again.
//
// The form's credential for the POST is the link token in its URL plus a
// cookie set when the link was opened (SameSite=Strict, path /connect/):
// another site can neither read the token nor make the browser send the
// cookie with its own POST. The page has a strict CSP: no script at all,
// styles by nonce only, forms only to grantd (and to the returnTo origin
// the answer redirects to), never framed.

// connectCookie binds a connect form to the browser that opened its link.
const connectCookie = "grantd_connect"

// connectFormLimit bounds a form's body: the largest credential (a
// session token of 8 KiB) and its neighbours, encoded.
const connectFormLimit = 64 << 10

func (s *Server) setConnectCookie(c *fiber.Ctx, binding string) {
	c.Cookie(&fiber.Cookie{
		Name: connectCookie, Value: binding, Path: "/connect/",
		MaxAge: int(datasource.StateTTL.Seconds()), HTTPOnly: true, Secure: s.secure,
		SameSite: fiber.CookieSameSiteStrictMode,
	})
}

// connectBinding is the browser's connect cookie, or a new one.
func connectBinding(c *fiber.Ctx) (string, bool) {
	b := c.Cookies(connectCookie)
	if len(b) < 32 || len(b) > 64 {
		return grants.NewBinding(), true
	}
	return b, false
}

// openConnectForm shows the form when the link is one of a static auth
// type's; ok false hands the link to the OAuth flow.
func (s *Server) openConnectForm(c *fiber.Ctx) (ok bool, err error) {
	binding, fresh := connectBinding(c)
	f, err := s.cfg.Engine.OpenConnectForm(c.UserContext(), c.Params("token"), binding)
	if err != nil {
		return true, endUserState(c, err)
	}
	if f == nil {
		return false, nil
	}
	if fresh {
		s.setConnectCookie(c, binding)
	}
	return true, s.renderConnectForm(c, f, nil, fiber.StatusOK)
}

// submitConnectForm takes the credential an end user entered.
func (s *Server) submitConnectForm(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	if !s.sameOriginPost(c) {
		s.log.Warn("connect form posted from another site refused", "origin", c.Get(fiber.HeaderOrigin), "fetchSite", c.Get("Sec-Fetch-Site"), "remote", c.IP())
		return probForbidden.with("the form was posted from another site")
	}
	if len(c.Body()) > connectFormLimit {
		return probTooLarge.with("the form is too large")
	}
	binding := c.Cookies(connectCookie)
	if len(binding) < 32 || len(binding) > 64 {
		// No browser opened this link here: refuse before the link is
		// looked at, so a POST cannot use up a link nobody has opened.
		s.log.Warn("connect form posted without its cookie", "remote", c.IP())
		return endUserState(c, &grants.StateError{Reason: "the form was not opened in this browser"})
	}
	token := c.Params("token")
	ctx := c.UserContext()
	// The form's fields are the datasource's type's; reading them needs
	// the form, which also proves the cookie and the link.
	f, err := s.cfg.Engine.OpenConnectForm(ctx, token, binding)
	if err == nil && f == nil {
		err = &grants.StateError{Reason: "unknown or already used connect link"}
	}
	if err != nil {
		s.log.Warn("connect form refused", "reason", err.Error(), "remote", c.IP())
		return endUserState(c, err)
	}
	var cred datasource.Credential
	for _, fl := range f.Fields {
		v := c.FormValue(fl.Name)
		if fl.Name == "username" {
			cred.Username = v
		} else if v != "" {
			*cred.Field(fl.Name) = datasource.NewSecret(v)
		}
	}
	res, err := s.cfg.Engine.SubmitConnectForm(ctx, token, binding, cred)
	var v *datasource.ValidationError
	if errors.As(err, &v) {
		return s.renderConnectForm(c, f, v.Errors, fiber.StatusBadRequest)
	}
	if err != nil {
		s.log.Warn("connect form refused", "reason", err.Error(), "remote", c.IP())
		return endUserState(c, err)
	}
	c.ClearCookie(connectCookie)
	return s.redirectResult(c, res, fiber.StatusSeeOther)
}

// sameOriginPost reports whether a form POST did not come from another
// site, by what browsers say of it: Sec-Fetch-Site (same-origin, or none
// for a user's own action), else Origin. The form page's no-referrer
// policy makes browsers send "Origin: null" with its own POST, so null is
// judged by Sec-Fetch-Site alone (a sandboxed frame elsewhere sends null
// too, with Sec-Fetch-Site cross-site). A client that sends neither (not
// a browser) has no victim's cookie to ride on.
func (s *Server) sameOriginPost(c *fiber.Ctx) bool {
	switch c.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := c.Get(fiber.HeaderOrigin)
	return o == "" || o == datasource.Origin(s.cfg.PublicURL.String())
}

// endUserState answers an end user's browser in plain words when a
// connect link or form no longer works.
func endUserState(c *fiber.Ctx, err error) error {
	if errors.Is(err, grants.ErrInvalidState) && wantsHTML(c) {
		p := probInvalidState.with("This link to connect your account has already been used or has expired. Go back to the app and start connecting again.")
		p.Title, p.endUser = "This link no longer works", true
		return p
	}
	return err
}

type connectFormPage struct {
	*grants.ConnectForm
	Nonce  string
	Action string
	Errors map[string]string
}

func (s *Server) renderConnectForm(c *fiber.Ctx, f *grants.ConnectForm, errs []datasource.FieldError, status int) error {
	var n [18]byte
	if _, err := rand.Read(n[:]); err != nil {
		return err
	}
	nonce := base64.RawStdEncoding.EncodeToString(n[:])
	formAction := "'self'"
	if o := datasource.Origin(f.ReturnTo); strings.Contains(f.ReturnTo, "://") && o != "" {
		formAction += " " + o // the answer redirects there
	}
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; form-action "+formAction+
		"; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Frame-Options", "DENY")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
	page := connectFormPage{ConnectForm: f, Nonce: nonce, Action: "/connect/" + url.PathEscape(c.Params("token")), Errors: map[string]string{}}
	for _, e := range errs {
		page.Errors[e.Field] = e.Message
	}
	var b strings.Builder
	if err := connectFormTemplate.Execute(&b, page); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).SendString(b.String())
}

var connectFormTemplate = template.Must(template.New("connect").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect {{.Name}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="{{.Nonce}}">body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}label{display:block;margin-top:1rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}
.err{color:#b42318;font-size:.9rem}button{margin-top:1.5rem;padding:.6rem 1.2rem;font:inherit}</style></head>
<body><h1>Connect {{.Name}}</h1>
{{with .Description}}<p>{{.}}</p>{{end}}
<p>Enter your own credential for {{.Name}}{{with .EndUser.DisplayName}} ({{.}}){{end}}. It is stored encrypted and never shown again.</p>
<form method="post" action="{{.Action}}" autocomplete="off">
{{range .Fields}}<label for="f-{{.Name}}">{{.Label}}{{if .Optional}} (optional){{end}}</label>
<input id="f-{{.Name}}" name="{{.Name}}" {{if .Secret}}type="password" autocomplete="new-password"{{else}}type="text" autocomplete="off"{{end}}{{if not .Optional}} required{{end}}>
{{with index $.Errors .Name}}<div class="err" role="alert">{{.}}</div>{{end}}
{{end}}{{with index .Errors "type"}}<div class="err" role="alert">{{.}}</div>{{end}}
<button type="submit">Connect</button>
</form></body></html>
`))

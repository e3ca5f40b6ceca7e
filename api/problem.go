package api

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// Problem is an RFC 9457 problem detail, the body of every error answer
// (Content-Type application/problem+json).
type Problem struct {
	// Type is a URI naming the kind of problem; see problemTypes.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors names every bad field: of a 400 for invalid input, and the
	// name of a 409 for a duplicate name (so a form can mark the field).
	Errors []datasource.FieldError `json:"errors,omitempty"`
	// RequestID correlates the answer with grantd's logs.
	RequestID string `json:"requestId,omitempty"`
	// ConnectURL is a fresh connect link for the end user a call was for,
	// on a 424 from a per-user datasource: the app shows it as "Connect
	// your account".
	ConnectURL string `json:"connectUrl,omitempty"`
	// Permission and Datasource name what an API key lacks, on a 403.
	Permission string `json:"permission,omitempty"`
	Datasource string `json:"datasource,omitempty"`

	endUser bool // shown to an end user of an app: no link into grantd
}

// Error makes a Problem usable as a Fiber handler error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

const problemBase = "https://grantd.dev/problems/"

// Problem types. The URIs are stable identifiers; they need not resolve.
var (
	probInvalid        = &Problem{Type: problemBase + "invalid-input", Title: "Invalid input", Status: 400}
	probMalformed      = &Problem{Type: problemBase + "malformed-json", Title: "Malformed JSON", Status: 400}
	probBadPath        = &Problem{Type: problemBase + "proxy-path-rejected", Title: "Proxy path rejected", Status: 400}
	probInvalidState   = &Problem{Type: problemBase + "invalid-state", Title: "Invalid authorization state", Status: 400}
	probNotPerUser     = &Problem{Type: problemBase + "not-per-user", Title: "Datasource is shared", Status: 400}
	probInvalidStart   = &Problem{Type: problemBase + "invalid-start-token", Title: "Invalid start token", Status: 400}
	probNotInteractive = &Problem{Type: problemBase + "not-interactive", Title: "Grant needs no authorization", Status: 400}
	probNoTokens       = &Problem{Type: problemBase + "no-oauth-tokens", Title: "Auth type has no OAuth tokens", Status: 400}
	probUnauthorized   = &Problem{Type: problemBase + "unauthorized", Title: "Unauthorized", Status: 401}
	probNotExposed     = &Problem{Type: problemBase + "token-not-exposed", Title: "Token not exposed", Status: 403}
	probForbidden      = &Problem{Type: problemBase + "forbidden", Title: "Forbidden", Status: 403}
	probCSRF           = &Problem{Type: problemBase + "csrf", Title: "Missing CSRF header", Status: 403}
	probNavigation     = &Problem{Type: problemBase + "navigation-refused", Title: "Navigation refused", Status: 403}
	probNotFound       = &Problem{Type: problemBase + "not-found", Title: "Not found", Status: 404}
	probMethod         = &Problem{Type: problemBase + "method-not-allowed", Title: "Method not allowed", Status: 405}
	probDuplicate      = &Problem{Type: problemBase + "duplicate-name", Title: "Name already in use", Status: 409}
	probTooLarge       = &Problem{Type: problemBase + "body-too-large", Title: "Body too large", Status: 413}
	probTooMany        = &Problem{Type: problemBase + "too-many-attempts", Title: "Too many failed attempts", Status: 429}
	probNotAuthorized  = &Problem{Type: problemBase + "datasource-not-authorized", Title: "Datasource not authorized", Status: 424}
	probTampered       = &Problem{Type: problemBase + "stored-record-refused", Title: "Stored record refused", Status: 500}
	probInternal       = &Problem{Type: problemBase + "internal", Title: "Internal error", Status: 500}
	probTokenFailed    = &Problem{Type: problemBase + "token-endpoint-failed", Title: "Token endpoint failed", Status: 502}
	probUpstream       = &Problem{Type: problemBase + "upstream-failed", Title: "Upstream failed", Status: 502}
	probUnavailable    = &Problem{Type: problemBase + "unavailable", Title: "Service unavailable", Status: 503}
	probUpstreamTime   = &Problem{Type: problemBase + "upstream-timeout", Title: "Upstream timed out", Status: 504}
)

// with returns a copy of p with detail.
func (p *Problem) with(detail string) *Problem {
	c := *p
	c.Detail = detail
	return &c
}

// problemFor maps an error to its problem: the one table from errors to
// HTTP statuses. Anything unknown is an internal error whose detail says
// only the request id; the error itself goes to the log.
func problemFor(err error) *Problem {
	var p *Problem
	var v *datasource.ValidationError
	var te *grants.TokenError
	var fe *fiber.Error
	var se *grants.StateError
	var na *grants.NotAuthorizedError
	var ce *grants.CredentialError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &v):
		q := probInvalid.with("the request has invalid fields")
		q.Errors = v.Errors
		return q
	case errors.Is(err, datasource.ErrTampered):
		return probTampered.with("a stored record failed authentication (changed outside grantd) and is refused; the server log names it")
	case errors.Is(err, datasource.ErrTemplate):
		// A url the current token cannot fill (its answer lacked a kept
		// field): the message names the placeholder, never a value.
		return probNotAuthorized.with(strings.TrimPrefix(err.Error(), "datasource: "))
	case errors.As(err, &na):
		// Before ErrNotFound: an end user with no connection is not
		// authorized (424), not an unknown route.
		return probNotAuthorized.with("datasource is not authorized: " + na.Reason)
	case errors.Is(err, grants.ErrNoConnection):
		return probNotFound.with("no connection for this end user")
	case errors.Is(err, datasource.ErrNotFound):
		return probNotFound.with("no such datasource")
	case errors.Is(err, datasource.ErrDuplicateName):
		q := probDuplicate.with("another datasource has this name")
		q.Errors = []datasource.FieldError{{Field: "name", Message: "another datasource has this name"}}
		return q
	case errors.Is(err, datasource.ErrUnavailable):
		return probUnavailable.with("the store is unavailable and this request needed it; tokens still valid in memory keep being served, none can be refreshed or written until it is back")
	case errors.As(err, &se):
		return probInvalidState.with("invalid authorization state: " + se.Reason)
	case errors.Is(err, grants.ErrInvalidStart):
		return probInvalidStart.with(strings.TrimPrefix(err.Error(), "grants: ") + "; mint another with POST …/authorize/start")
	case errors.Is(err, grants.ErrNotInteractive):
		return probNotInteractive.with("only authorization_code datasources are authorized in a browser; client_credentials and jwt_bearer get tokens by themselves (POST …/refresh), token_exchange from each caller's Grantd-Subject-Token")
	case errors.Is(err, grants.ErrNoTokens):
		return probNoTokens.with("this datasource authenticates with a fixed credential (auth.type apiKey, basic, bearer, awsSigV4 or none), not OAuth 2.0: " +
			"there is no token to hand out, authorize, refresh or revoke. Call it through the proxy; change a shared credential with PUT, " +
			"and an end user's with a connect link (POST /api/v1/connect/sessions)")
	case errors.As(err, &ce):
		// Reason names the field and the reference, never a value.
		return probNotAuthorized.with("the datasource's credential is unavailable: " + ce.Reason)
	case errors.Is(err, grants.ErrBodyNotSignable):
		return probTooLarge.with(strings.TrimPrefix(err.Error(), "grants: "))
	case errors.Is(err, grants.ErrEndUserRequired):
		q := probInvalid.with("this datasource is per user: name the end user in the " + endUserHeader + " header")
		q.Errors = []datasource.FieldError{{Field: endUserHeader, Message: "is required for a per-user datasource"}}
		return q
	case errors.Is(err, datasource.ErrEndUserID):
		q := probInvalid.with("the end user id is not one")
		q.Errors = []datasource.FieldError{{Field: endUserHeader, Message: datasource.EndUserIDRule}}
		return q
	case errors.Is(err, grants.ErrNotPerUser):
		return probNotPerUser.with("this datasource is shared: it has no per-user connections")
	case errors.Is(err, grants.ErrSubjectTokenRequired):
		q := probInvalid.with("this datasource exchanges the caller's own token (RFC 8693): send it in the " + subjectTokenHeader + " header")
		q.Errors = []datasource.FieldError{{Field: subjectTokenHeader, Message: "is required for a token_exchange datasource"}}
		return q
	case errors.Is(err, grants.ErrClosed):
		return probUnavailable.with("grantd is shutting down")
	case errors.As(err, &te):
		if te.Kind == grants.Permanent {
			return probNotAuthorized.with(te.Reason)
		}
		return probTokenFailed.with(te.Reason)
	case errors.Is(err, context.DeadlineExceeded):
		return probUnavailable.with("the request took too long")
	case errors.As(err, &fe):
		switch fe.Code {
		case fiber.StatusNotFound:
			return probNotFound.with("no such route")
		case fiber.StatusMethodNotAllowed:
			return probMethod.with("this route does not take that method")
		case fiber.StatusRequestEntityTooLarge:
			return probTooLarge.with("the body is over the limit")
		case fiber.StatusUnauthorized:
			return probUnauthorized.with("an admin token or a UI session is required")
		}
		if fe.Code >= 400 && fe.Code < 500 {
			// fe.Message may quote the request (fasthttp's parse errors
			// carry the raw head, Authorization included): never echo it.
			return &Problem{Type: "about:blank", Title: utils.StatusMessage(fe.Code), Status: fe.Code,
				Detail: "the request could not be read as HTTP"}
		}
	}
	return probInternal.with("an unexpected error occurred; the request id correlates it with the server log")
}

// sendProblem writes p as problem+json, or as an HTML page for a browser.
func sendProblem(c *fiber.Ctx, p *Problem) error {
	q := *p
	q.RequestID = requestID(c)
	if q.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="grantd"`)
	}
	c.Status(q.Status)
	if wantsHTML(c) {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		var b strings.Builder
		problemPage.Execute(&b, struct {
			*Problem
			Back bool
		}{&q, !q.endUser})
		return c.SendString(b.String())
	}
	b, err := json.Marshal(&q)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Send(b)
}

// wantsHTML reports whether the client is a browser navigating (the
// callback, the authorize start) rather than a program.
func wantsHTML(c *fiber.Ctx) bool {
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, "text/html") && !strings.Contains(accept, "application/json")
}

var problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} — grantd</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}a{color:#0b5cad}</style></head>
<body><h1>{{.Title}}</h1><p id="detail">{{.Detail}}</p>
<p>Status {{.Status}}{{if .RequestID}} · request <code>{{.RequestID}}</code>{{end}}</p>
{{if .Back}}<p><a href="/">Back to grantd</a></p>{{end}}</body></html>`))

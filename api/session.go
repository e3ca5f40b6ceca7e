package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/datasource"
)

const (
	sessionCookie = "grantd_session"
	csrfHeader    = "X-Grantd-CSRF"
	localAuth     = "grantd.auth"  // "token", "key" or "session"
	localActor    = "grantd.actor" // who, for the audit trail
)

// authenticate lets a request through with the admin token as Bearer, or
// a valid session cookie (plus the CSRF header for requests that change
// something). Otherwise 401; and 429 for an address that presented too
// many wrong tokens (see failureLimiter). The address is c.IP(), the
// peer's: X-Forwarded-For is not trusted, as Fiber is not configured to.
func (s *Server) authenticate(c *fiber.Ctx) error {
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		addr := addressKey(c.IP())
		if ok, wait := s.failures.admit(addr); !ok {
			return tooManyAttempts(c, wait)
		}
		scheme, tok, ok := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		bearer := ok && strings.EqualFold(scheme, "Bearer")
		if bearer && access.IsKey(tok) {
			if k, ok := s.checkKey(tok); ok {
				c.Locals(localAuth, "key")
				c.Locals(localKey, k)
				c.Locals(localActor, access.Actor(k))
				return c.Next()
			}
			s.failures.fail(addr)
			s.log.Warn("unknown or revoked API key", "requestId", requestID(c), "remote", c.IP())
			return probUnauthorized.with("the API key is unknown or revoked")
		}
		if bearer && access.IsAgentToken(tok) {
			s.failures.fail(addr)
			return probUnauthorized.with("an agent session token is accepted only by the MCP endpoint, /mcp")
		}
		if bearer && s.adminToken(tok) {
			c.Locals(localAuth, "token")
			c.Locals(localActor, "token:"+hex.EncodeToString(s.cfg.AdminTokenHash[:4]))
			return c.Next()
		}
		s.failures.fail(addr)
		s.log.Warn("wrong admin token", "requestId", requestID(c), "remote", c.IP())
		return probUnauthorized.with("the Authorization header carries neither the admin token nor an API key")
	}
	if v := c.Cookies(sessionCookie); v != "" && s.validSession(c.UserContext(), v) {
		switch c.Method() {
		case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		default:
			if c.Get(csrfHeader) == "" {
				return probCSRF.with("requests authenticated by the session cookie must send the " + csrfHeader + " header")
			}
		}
		c.Locals(localAuth, "session")
		sum := sha256.Sum256([]byte(v))
		c.Locals(localActor, "session:"+hex.EncodeToString(sum[:4]))
		return c.Next()
	}
	return probUnauthorized.with("send the admin token as 'Authorization: Bearer <token>' or sign in to the UI")
}

// checkKey checks an API key, if this server takes any.
func (s *Server) checkKey(tok string) (*datasource.APIKey, bool) {
	if s.cfg.Keys == nil {
		return nil, false
	}
	return s.cfg.Keys.Check(tok)
}

// actsAsDatasource guards the routes that act with a datasource's
// credentials — the proxy and the token endpoint — against the browser.
// A session cookie is sent with whatever a page makes the browser load,
// so there it counts only with the CSRF header on every method (GET and
// HEAD too; no link, form, image or cross-origin fetch without a CORS
// preflight can add it), and never for a navigation: a document
// loaded from here would render an upstream's answer on grantd's origin.
// Fetch Metadata (Sec-Fetch-Mode, Sec-Fetch-Dest) is sent by browsers to
// https origins and localhost; without it the CSRF header still holds.
// The admin token as Bearer is not a browser credential and is not
// affected.
func (s *Server) actsAsDatasource(c *fiber.Ctx) error {
	if c.Locals(localAuth) != "session" {
		return c.Next()
	}
	if c.Get("Sec-Fetch-Mode") == "navigate" || c.Get("Sec-Fetch-Dest") == "document" {
		return probNavigation.with("the proxy and the token endpoint do not answer a browser navigation made with the session cookie; call them with fetch and the " + csrfHeader + " header, or with the admin token")
	}
	if c.Get(csrfHeader) == "" {
		return probCSRF.with("the proxy and the token endpoint need the " + csrfHeader + " header on every request authenticated by the session cookie, GET and HEAD included")
	}
	return c.Next()
}

// adminToken reports whether tok is the admin token, comparing digests in
// constant time.
func (s *Server) adminToken(tok string) bool {
	if tok == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(d[:], s.cfg.AdminTokenHash[:]) == 1
}

// A session cookie is expiry (8 bytes) | nonce (16 bytes) | HMAC-SHA256
// over both, keyed with the session key and the admin token's digest, so
// replacing the admin token ends every session.
func (s *Server) sessionMAC(payload []byte) []byte {
	m := hmac.New(sha256.New, append(append([]byte{}, s.cfg.SessionKey...), s.cfg.AdminTokenHash[:]...))
	m.Write(payload)
	return m.Sum(nil)
}

func (s *Server) newSession(now time.Time) string {
	payload := make([]byte, 24)
	binary.BigEndian.PutUint64(payload, uint64(now.Add(s.cfg.SessionTTL).Unix()))
	rand.Read(payload[8:])
	return base64.RawURLEncoding.EncodeToString(append(payload, s.sessionMAC(payload)...))
}

// session is what a valid session cookie says.
type session struct {
	id      string // the nonce, hex: names the session in the revocation list
	expires time.Time
}

// parseSession checks the cookie value's signature and expiry.
func (s *Server) parseSession(v string) (session, bool) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 24+sha256.Size || len(s.cfg.SessionKey) == 0 {
		return session{}, false
	}
	payload, mac := b[:24], b[24:]
	if !hmac.Equal(mac, s.sessionMAC(payload)) {
		return session{}, false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
	if !s.now().Before(exp) {
		return session{}, false
	}
	return session{id: hex.EncodeToString(payload[8:24]), expires: exp}, true
}

// validSession reports whether v is a session cookie that is signed, has
// not expired and was not signed out.
func (s *Server) validSession(ctx context.Context, v string) bool {
	se, ok := s.parseSession(v)
	return ok && !s.revoked.revoked(ctx, se.id)
}

type sessionRequest struct {
	Token string `json:"token"`
}

// createSession trades the admin token for an HttpOnly session cookie, so
// the UI never keeps the token in script-readable storage.
func (s *Server) createSession(c *fiber.Ctx) error {
	body, err := s.readJSONBody(c)
	if err != nil {
		return err
	}
	var req sessionRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	addr := addressKey(c.IP())
	if ok, wait := s.failures.admit(addr); !ok {
		return tooManyAttempts(c, wait)
	}
	if !s.adminToken(strings.TrimSpace(req.Token)) {
		s.failures.fail(addr)
		s.log.Warn("sign-in with a wrong admin token", "requestId", requestID(c), "remote", c.IP())
		return probUnauthorized.with("that is not the admin token")
	}
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    s.newSession(s.now()),
		Path:     "/",
		MaxAge:   int(s.cfg.SessionTTL.Seconds()),
		HTTPOnly: true,
		Secure:   s.secure,
		// Strict: no request another site starts — not even a link the
		// admin follows — carries the session.
		SameSite: fiber.CookieSameSiteStrictMode,
	})
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"authenticated": true, "expiresIn": int(s.cfg.SessionTTL.Seconds())})
}

func (s *Server) getSession(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"authenticated": true, "via": c.Locals(localAuth)})
}

// deleteSession signs out: the cookie is cleared, and the session it
// names is revoked until it would have expired, so a copy of the cookie
// is refused too (see revocations).
func (s *Server) deleteSession(c *fiber.Ctx) error {
	if se, ok := s.parseSession(c.Cookies(sessionCookie)); ok {
		if err := s.revoked.revoke(c.UserContext(), se.id, se.expires); err != nil {
			// In force on this replica already; the write is retried.
			s.log.Warn("storing a sign-out failed", "requestId", requestID(c), "err", err)
		}
		s.log.Info("signed out", "by", c.Locals(localActor))
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteStrictMode})
	return c.SendStatus(fiber.StatusNoContent)
}

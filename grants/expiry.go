package grants

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxLifetime keeps a token that claims to live for decades (an exp in
// 2173, an expires_in of 2^31) from never being refreshed.
const maxLifetime = 365 * 24 * time.Hour

// minRefreshInterval keeps a token that claims to be (nearly) expired
// from causing a tight refresh loop. It clamps the schedule (Engine.plan),
// never the expiry: a 3-second token is recorded as expiring after 3
// seconds and is not handed out after that, and it is refreshed before
// then (a floor of several seconds would let 4-second tokens expire
// before their refresh, sending every caller to the token endpoint).
const minRefreshInterval = time.Second

// expiryOf returns when tok expires, in order of preference: expires_in
// (number or string; x/oauth2 computes Expiry from the wall clock, so the
// raw value is read again here against the engine's clock), the exp claim
// when the access token is a JWT (Vectara and Cognito issue JWTs that live
// 30 minutes), else now + def. A token is never treated as valid forever,
// nor as valid longer than it says.
func expiryOf(tok *oauth2.Token, now time.Time, def time.Duration) time.Time {
	life := def
	if n, ok := expiresIn(tok); ok {
		life = time.Duration(n) * time.Second
	} else if exp, ok := jwtExpiry(tok.AccessToken); ok {
		life = exp.Sub(now)
	}
	return now.Add(min(life, maxLifetime))
}

// expiresIn reads expires_in from the token response, accepting a JSON
// number, a numeric string, or a form value. Zero or negative is unknown.
func expiresIn(tok *oauth2.Token) (int64, bool) {
	if tok.ExpiresIn > 0 {
		return tok.ExpiresIn, true
	}
	var n int64
	switch v := tok.Extra("expires_in").(type) {
	case int64: // form-encoded answers, as x/oauth2 parses them
		if v > 0 && v < math.MaxInt32 {
			n = v
		}
	case float64:
		if v > 0 && v < math.MaxInt32 {
			n = int64(v)
		}
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f > 0 && f < math.MaxInt32 {
			n = int64(f)
		}
	case json.Number:
		if f, err := v.Float64(); err == nil && f > 0 && f < math.MaxInt32 {
			n = int64(f)
		}
	}
	return n, n > 0
}

// jwtExpiry returns the exp claim of a JWS compact-serialised token. The
// signature is not checked: grantd is the client, not the audience, and
// only uses exp to schedule a refresh.
func jwtExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// grantedScope returns the scope the provider granted: the response's scope
// (normalised, space-delimited), else prev (a refresh keeps the scope, RFC
// 6749 §6), else the requested scope (§5.1: omitted means as requested).
func grantedScope(tok *oauth2.Token, prev, requested string) string {
	if s, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(s) != "" {
		return strings.Join(strings.Fields(s), " ")
	}
	if prev != "" {
		return prev
	}
	return requested
}

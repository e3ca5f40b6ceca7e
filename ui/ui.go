// Package ui is grantd's web UI: plain HTML, CSS and ES modules with no
// build step and no external resources, embedded into the binary and
// served by package api at /.
//
// The UI signs in by trading the admin token for an HttpOnly session
// cookie (it never stores the token), sends X-Grantd-CSRF on every change,
// and routes in the browser: /login, / (datasources), /datasources/new,
// /datasources/{id}, /datasources/{id}/edit, /api-keys and, for a
// per-user datasource, /datasources/{id}/connections/{endUserId}. The one
// page shown without a session is an end user's: where grantd sends their
// browser after a connect link when the app gave no returnTo. It works
// under a strict Content-Security-Policy: no inline script or style.
//
// ui_test.go drives Debian's chromium headless with chromedp through the
// main flows against a real server and the in-process authorization
// server, and saves screenshots.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Files returns the UI's files, rooted at the UI's top (index.html).
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	return sub
}

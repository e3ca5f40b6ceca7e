// Package ui is grantd's web UI: plain HTML, CSS and ES modules with no
// build step and no external resources, embedded into the binary.
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

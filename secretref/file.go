package secretref

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// file resolves ${file:p}. The order matters: everything about p outside
// Dir is decided from the path alone, before anything is looked up, so
// the answer is the same for a file that exists there and one that does
// not. Only inside Dir may the answer depend on the file system.
func (f *Fence) file(ref, p string, read bool) (string, error) {
	if f.Dir == "" {
		return "", refused(ref, "is refused: --secret-dir is empty, so no ${file:…} reference resolves")
	}
	dir, data := filepath.Clean(f.Dir), ""
	if f.DataDir != "" {
		data = filepath.Clean(f.DataDir)
	}
	rdir, rdata, err := f.dirs()
	switch {
	case errors.Is(err, errOverlap):
		return "", refused(ref, "is refused: --secret-dir %s %v", f.Dir, errOverlap)
	case err != nil:
		// The operator's directories cannot be resolved (a link loop, a
		// parent without search permission): only the paths as written.
		rdir, rdata = dir, data
	}
	base := ""
	switch {
	case within(dir, p):
		base = dir
	case within(rdir, p):
		base = rdir
	default:
		return "", refused(ref, "is outside --secret-dir %s", f.Dir)
	}
	if within(data, p) || within(rdata, p) {
		return "", refused(ref, "is refused: files in --data-dir are never resolved")
	}
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return "", refused(ref, "is outside --secret-dir %s", f.Dir)
	}

	// os.Root follows a link only while it stays inside base, and never
	// looks at what lies outside: a link to a missing file outside and
	// one to an existing file outside fail alike.
	root, err := os.OpenRoot(base)
	if err != nil {
		return "", openError(ref, f.Dir, err)
	}
	defer root.Close()
	// O_NONBLOCK: a FIFO must not hang the token request; O_NOCTTY: a
	// terminal must not become ours.
	fh, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return "", openError(ref, f.Dir, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return "", unavailable(ref, "cannot be read (I/O error)")
	}
	if !fi.Mode().IsRegular() {
		return "", refused(ref, "is refused: not a regular file")
	}
	// Once more with the links resolved, as a second, independent check:
	// the opened file must be the one at the resolved path, inside the
	// resolved secret dir and outside the resolved data dir.
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil || !within(rdir, resolved) {
		return "", refused(ref, "does not resolve to a file inside --secret-dir %s", f.Dir)
	}
	if within(rdata, resolved) {
		return "", refused(ref, "is refused: files in --data-dir are never resolved")
	}
	if rfi, err := os.Stat(resolved); err != nil || !os.SameFile(fi, rfi) {
		return "", refused(ref, "does not resolve to a file inside --secret-dir %s", f.Dir)
	}
	if !read {
		return "", nil
	}

	b, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return "", unavailable(ref, "cannot be read (I/O error)")
	}
	if len(b) > MaxFileSize {
		return "", unavailable(ref, "is over %d bytes", MaxFileSize)
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(b) == 0 {
		return "", unavailable(ref, "is empty")
	}
	return string(b), nil
}

// openError words a failure to open a path inside the secret dir. Only
// "no such file" and "permission denied" come from the file system; any
// other failure (a link that leaves the directory, a loop, a file used as
// a directory) is the same refusal.
func openError(ref, dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return unavailable(ref, "does not exist (no such file in --secret-dir %s)", dir)
	case errors.Is(err, fs.ErrPermission):
		return unavailable(ref, "cannot be read (permission denied)")
	}
	return refused(ref, "does not resolve to a file inside --secret-dir %s", dir)
}

// realPath is filepath.EvalSymlinks for a path that may not exist yet:
// the longest existing prefix is resolved and the rest appended.
func realPath(p string) (string, error) {
	p = filepath.Clean(p)
	r, err := filepath.EvalSymlinks(p)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p, nil
	}
	rp, err := realPath(parent)
	if err != nil {
		return "", err
	}
	return filepath.Join(rp, filepath.Base(p)), nil
}

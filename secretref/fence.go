package secretref

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/grantd/grantd/datasource"
)

// MaxFileSize bounds a ${file:…} secret.
const MaxFileSize = 64 << 10

// DefaultEnvAllow is the allowlist grantd uses when the operator sets
// none: variables named like client credentials and private keys.
var DefaultEnvAllow = []string{"*_CLIENT_SECRET", "*_CLIENT_ID", "*_PRIVATE_KEY"}

// DefaultDir is where container runtimes mount secrets (Docker, and
// Kubernetes by convention).
const DefaultDir = "/run/secrets"

var (
	// ErrRefused is matched (errors.Is) by an *Error for a reference the
	// fence does not allow.
	ErrRefused = errors.New("secretref: refused")
	// ErrUnavailable is matched by an *Error for an allowed reference
	// whose variable is unset or whose file is missing, unreadable, empty
	// or too large.
	ErrUnavailable = errors.New("secretref: unavailable")
	// ErrNotRef is returned for a string that is not a well-formed
	// reference. Its message never repeats the string, which may be a
	// secret.
	ErrNotRef = errors.New("secretref: not a well-formed reference")
)

// Error says why a reference did not resolve. It names the reference and
// the rule, never a value.
type Error struct {
	Ref     string // the reference, as written
	Reason  string // the rule that refused it, or what is missing
	Refused bool   // the fence refused it (else: allowed but unavailable)
}

func (e *Error) Error() string { return e.Ref + " " + e.Reason }

// Is makes errors.Is(err, ErrRefused) and errors.Is(err, ErrUnavailable)
// work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRefused:
		return e.Refused
	case ErrUnavailable:
		return !e.Refused
	}
	return false
}

func refused(ref, format string, args ...any) *Error {
	return &Error{Ref: ref, Reason: fmt.Sprintf(format, args...), Refused: true}
}

func unavailable(ref, format string, args ...any) *Error {
	return &Error{Ref: ref, Reason: fmt.Sprintf(format, args...)}
}

// Fence is what secret references may reach. The zero value refuses
// every reference. A Fence is not changed by its methods: safe for
// concurrent use once set up.
type Fence struct {
	// EnvAllow holds path.Match patterns; ${env:NAME} resolves only when
	// NAME matches one. Empty: no ${env:} reference resolves. GRANTD_*
	// names never resolve, whatever the patterns.
	EnvAllow []string
	// LookupEnv reads an environment variable (grantd passes
	// os.LookupEnv; this package reads no environment itself). Nil: no
	// ${env:} reference resolves.
	LookupEnv func(name string) (string, bool)
	// Dir is the absolute directory ${file:} references must stay inside.
	// Empty: no ${file:} reference resolves.
	Dir string
	// DataDir is grantd's data directory (absolute). Nothing in it is ever
	// read, and a Dir that overlaps it refuses every file reference.
	DataDir string
}

// Validate checks the fence's settings: well-formed patterns, absolute
// directories, and a Dir that neither is, contains nor is inside DataDir
// (both with their symbolic links resolved; either may not exist yet).
// The error names the flag to fix.
func (f *Fence) Validate() error {
	for _, p := range f.EnvAllow {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("--secret-env-allow: %q is not a glob pattern (path.Match syntax, such as *_CLIENT_SECRET)", p)
		}
	}
	if f.Dir != "" && !filepath.IsAbs(f.Dir) {
		return fmt.Errorf("--secret-dir %s: want an absolute directory", f.Dir)
	}
	if f.DataDir != "" && !filepath.IsAbs(f.DataDir) {
		return fmt.Errorf("--data-dir %s: want an absolute directory", f.DataDir)
	}
	if f.Dir == "" {
		return nil
	}
	if _, _, err := f.dirs(); err != nil {
		return fmt.Errorf("--secret-dir %s: %w", f.Dir, err)
	}
	return nil
}

// errOverlap is why dirs refuses; Validate and Resolve word it each their way.
var errOverlap = errors.New("is, contains or is inside --data-dir; grantd's own files are never resolved, so choose a directory apart from it")

// dirs returns Dir and DataDir with their links resolved, or errOverlap.
func (f *Fence) dirs() (dir, data string, err error) {
	if dir, err = realPath(f.Dir); err != nil {
		return "", "", err
	}
	if f.DataDir == "" {
		return dir, "", nil
	}
	if data, err = realPath(f.DataDir); err != nil {
		return "", "", err
	}
	if within(dir, data) || within(data, dir) || within(filepath.Clean(f.Dir), filepath.Clean(f.DataDir)) || within(filepath.Clean(f.DataDir), filepath.Clean(f.Dir)) {
		return "", "", errOverlap
	}
	return dir, data, nil
}

// Resolve returns the secret ref names, read now. It does not keep it.
// Errors: ErrNotRef, or an *Error (see the package doc).
func (f *Fence) Resolve(ctx context.Context, ref string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return f.resolve(ref, true)
}

// Check reports whether the fence refuses ref, without reading any value:
// it returns ErrNotRef or an *Error matching ErrRefused, and nil for a
// reference that is allowed even if its variable or file is missing now
// (it may appear later). A file reference is opened (not read) to check
// where its links lead.
func (f *Fence) Check(ref string) error {
	_, err := f.resolve(ref, false)
	if err != nil && (errors.Is(err, ErrRefused) || errors.Is(err, ErrNotRef)) {
		return err
	}
	return nil
}

func (f *Fence) resolve(ref string, read bool) (string, error) {
	kind, name, ok, bad := datasource.ParseSecretRef(ref)
	if !ok || bad != "" {
		return "", ErrNotRef
	}
	switch kind {
	case datasource.SecretRefEnv:
		return f.env(ref, name, read)
	case datasource.SecretRefFile:
		return f.file(ref, name, read)
	}
	return "", ErrNotRef
}

func (f *Fence) env(ref, name string, read bool) (string, error) {
	if strings.HasPrefix(strings.ToUpper(name), "GRANTD_") {
		return "", refused(ref, "is refused: GRANTD_* variables are never resolved")
	}
	if len(f.EnvAllow) == 0 {
		return "", refused(ref, "is refused: --secret-env-allow is empty, so no ${env:…} reference resolves")
	}
	if f.LookupEnv == nil {
		return "", refused(ref, "is refused: ${env:…} references are not enabled")
	}
	if !f.envAllowed(name) {
		return "", refused(ref, "is not in --secret-env-allow (%s)", strings.Join(f.EnvAllow, ","))
	}
	if !read {
		return "", nil
	}
	v, found := f.LookupEnv(name)
	if !found || v == "" {
		return "", unavailable(ref, "is not set: the environment variable %s is not set in grantd's environment", name)
	}
	return v, nil
}

func (f *Fence) envAllowed(name string) bool {
	for _, p := range f.EnvAllow {
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// within reports whether p is base or inside it. Both are clean absolute
// paths; nothing is looked up.
func within(base, p string) bool {
	if base == "" {
		return false
	}
	rel, err := filepath.Rel(base, p)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

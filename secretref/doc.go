// Package secretref resolves client secret references (${env:NAME},
// ${file:/path}; see datasource.ParseSecretRef) inside a fence the
// operator sets, so that whoever may write a datasource cannot make grantd
// send its own secrets (GRANTD_ADMIN_TOKEN, master.key, /proc/self/environ)
// to a token URL of their choosing.
//
// # The fence
//
// A Fence holds the rules:
//
//   - ${env:NAME} resolves only when NAME matches one of Fence.EnvAllow
//     (path.Match glob patterns), and never when NAME starts with GRANTD_
//     (in any case), whatever the patterns say: those are grantd's own
//     settings and secrets.
//   - ${file:PATH} resolves only to a regular file inside Fence.Dir. PATH
//     is opened through an os.Root on the directory, so every symbolic link
//     on the way is followed only while it stays inside (a Kubernetes
//     secret volume's ..data links do; a link to /etc or to the data dir
//     does not). The file's path with its links resolved
//     (filepath.EvalSymlinks) is checked once more against the resolved
//     directory and the resolved data directory. Fence.DataDir is never
//     read, and a Dir that is, contains or is inside DataDir refuses every
//     file reference (Validate reports it at start).
//   - A file is read once per resolution, at most MaxFileSize bytes, with
//     one trailing newline (LF or CRLF) dropped; an empty file or variable
//     does not resolve.
//
// # Errors
//
// Resolve and Check return *Error. Its message names the reference and
// the rule that refused it, never a value, and is meant for the
// datasource's lastError or a 400 naming auth.clientSecret, so it is not
// prefixed with the package name. errors.Is(err, ErrRefused) holds when
// the fence refused the reference (it cannot resolve until the operator
// changes the fence); errors.Is(err, ErrUnavailable) when the reference
// is allowed but its variable or file is missing or unusable (it may
// appear later). A path outside Dir is refused before anything is looked
// up, so the message is the same whether or not such a file exists; only
// inside Dir does an answer say "no such file".
//
// Messages name grantd's flags (--secret-env-allow, --secret-dir,
// --data-dir), which set the corresponding Fence fields.
package secretref

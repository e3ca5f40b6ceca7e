package secretref_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grantd/grantd/secretref"
)

var ctx = context.Background()

// layout is a secret dir, a data dir beside it with a master.key, and
// files outside both, in t.TempDir():
//
//	root/secrets/ok                  "from-the-secret-dir\n"
//	root/secrets/..data/k8s          (a Kubernetes volume: k8s → ..data/k8s)
//	root/secrets/to-master.key       → ../data/master.key
//	root/secrets/abs-master.key      → root/data/master.key
//	root/secrets/to-environ          → /proc/self/environ
//	root/secrets/to-outside          → root/outside
//	root/secrets/to-missing          → root/missing
//	root/data/master.key
//	root/outside
type layout struct {
	root, secrets, data string
	fence               *secretref.Fence
	env                 map[string]string
	fifo                bool // root/secrets/fifo is a FIFO (not on every OS)
}

const (
	okValue     = "from-the-secret-dir"
	masterValue = "MASTER-KEY-never-leaves-0123456789"
)

func newLayout(t *testing.T) *layout {
	t.Helper()
	root := t.TempDir()
	l := &layout{root: root, secrets: filepath.Join(root, "secrets"), data: filepath.Join(root, "data")}
	for _, d := range []string{l.secrets, l.data, filepath.Join(l.secrets, "..data"), filepath.Join(l.secrets, "adir")} {
		must(t, os.MkdirAll(d, 0o700))
	}
	write := func(p, v string) { must(t, os.WriteFile(p, []byte(v), 0o600)) }
	write(filepath.Join(l.secrets, "ok"), okValue+"\n")
	write(filepath.Join(l.secrets, "crlf"), "windows-secret\r\n")
	write(filepath.Join(l.secrets, "empty"), "")
	write(filepath.Join(l.secrets, "big"), strings.Repeat("x", secretref.MaxFileSize+1))
	write(filepath.Join(l.secrets, "..data", "k8s"), "from-a-k8s-volume")
	write(filepath.Join(l.data, "master.key"), masterValue)
	write(filepath.Join(root, "outside"), "outside-value")
	link := func(target, name string) { must(t, os.Symlink(target, filepath.Join(l.secrets, name))) }
	link("..data/k8s", "k8s")
	link("ok", "inside-link")
	link("../data/master.key", "to-master.key")
	link(filepath.Join(l.data, "master.key"), "abs-master.key")
	link("/proc/self/environ", "to-environ")
	link(filepath.Join(root, "outside"), "to-outside")
	link(filepath.Join(root, "missing"), "to-missing")
	l.fifo = mkfifo(filepath.Join(l.secrets, "fifo")) == nil
	l.env = map[string]string{
		"VECTARA_CLIENT_SECRET": "vectara-value",
		"GRANTD_WEBHOOK_SECRET": "webhook-value",
		"grantd_admin_token":    "lowercase-value",
		"HOME":                  "/home/someone",
		"EMPTY_CLIENT_SECRET":   "",
	}
	l.fence = &secretref.Fence{
		EnvAllow:  secretref.DefaultEnvAllow,
		LookupEnv: func(n string) (string, bool) { v, ok := l.env[n]; return v, ok },
		Dir:       l.secrets,
		DataDir:   l.data,
	}
	must(t, l.fence.Validate())
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestResolve: what the fence lets through and what it refuses, with the
// rule in the message. The refused cases are the attacks of issue 13.
func TestResolve(t *testing.T) {
	l := newLayout(t)
	s, d := l.secrets, l.data
	for _, tt := range []struct {
		ref     string
		want    string // the value, when it resolves
		errWant string // a part of the message, when it does not
		refused bool
	}{
		{ref: "${env:VECTARA_CLIENT_SECRET}", want: "vectara-value"},
		{ref: "${file:" + s + "/ok}", want: okValue},
		{ref: "${file:" + s + "/crlf}", want: "windows-secret"},
		{ref: "${file:" + s + "/k8s}", want: "from-a-k8s-volume"},
		{ref: "${file:" + s + "/inside-link}", want: okValue},

		{ref: "${env:GRANTD_WEBHOOK_SECRET}", errWant: "GRANTD_* variables are never resolved", refused: true},
		{ref: "${env:grantd_admin_token}", errWant: "GRANTD_* variables are never resolved", refused: true},
		{ref: "${env:HOME}", errWant: "is not in --secret-env-allow (*_CLIENT_SECRET,*_CLIENT_ID,*_PRIVATE_KEY)", refused: true},
		{ref: "${file:/proc/self/environ}", errWant: "is outside --secret-dir " + s, refused: true},
		{ref: "${file:" + d + "/master.key}", errWant: "is outside --secret-dir " + s, refused: true},
		{ref: "${file:" + s + "/to-master.key}", errWant: "does not resolve to a file inside --secret-dir " + s, refused: true},
		{ref: "${file:" + s + "/abs-master.key}", errWant: "does not resolve to a file inside --secret-dir " + s, refused: true},
		{ref: "${file:" + s + "/to-environ}", errWant: "does not resolve to a file inside --secret-dir " + s, refused: true},
		{ref: "${file:" + s + "/../data/master.key}", errWant: "secretref: not a well-formed reference"},
		{ref: "${file:" + s + "2/x}", errWant: "is outside --secret-dir " + s, refused: true},
		{ref: "${file:" + s + "/fifo}", errWant: "not a regular file", refused: true},
		{ref: "${file:" + s + "/adir}", errWant: "not a regular file", refused: true},
		{ref: "${file:" + s + "}", errWant: "not a regular file", refused: true},

		{ref: "${env:MISSING_CLIENT_SECRET}", errWant: "MISSING_CLIENT_SECRET is not set in grantd's environment"},
		{ref: "${env:EMPTY_CLIENT_SECRET}", errWant: "is not set"},
		{ref: "${file:" + s + "/nope}", errWant: "does not exist (no such file in --secret-dir " + s + ")"},
		{ref: "${file:" + s + "/empty}", errWant: "is empty"},
		{ref: "${file:" + s + "/big}", errWant: "is over 65536 bytes"},
	} {
		if strings.HasSuffix(tt.ref, "/fifo}") && !l.fifo {
			continue
		}
		got, err := l.fence.Resolve(ctx, tt.ref)
		switch {
		case tt.errWant == "" && (err != nil || got != tt.want):
			t.Errorf("%s = %q, %v; want %q", tt.ref, got, err, tt.want)
		case tt.errWant != "" && (err == nil || got != "" || !strings.Contains(err.Error(), tt.errWant)):
			t.Errorf("%s = %q, %v; want an error with %q", tt.ref, got, err, tt.errWant)
		case tt.errWant != "" && errors.Is(err, secretref.ErrRefused) != tt.refused:
			t.Errorf("%s: errors.Is(ErrRefused) = %v, want %v (%v)", tt.ref, !tt.refused, tt.refused, err)
		}
		if err != nil {
			for _, v := range []string{masterValue, "outside-value", "webhook-value", "lowercase-value", "/home/someone"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("%s: the error shows a value: %v", tt.ref, err)
				}
			}
		}
	}
}

// TestNoExistenceOracle: outside the secret dir, a file that exists and
// one that does not get the same answer, whether named directly or
// through a link in the secret dir.
func TestNoExistenceOracle(t *testing.T) {
	l := newLayout(t)
	for _, pair := range [][2]string{
		{l.root + "/outside", l.root + "/missing"},
		{l.data + "/master.key", l.data + "/no-such.key"},
		{"/etc/hostname", "/etc/no-such-file-here"},
		{l.secrets + "/to-outside", l.secrets + "/to-missing"},
	} {
		_, e1 := l.fence.Resolve(ctx, "${file:"+pair[0]+"}")
		_, e2 := l.fence.Resolve(ctx, "${file:"+pair[1]+"}")
		r1, r2 := reason(t, e1), reason(t, e2)
		if r1 != r2 {
			t.Errorf("existing %s: %q; missing %s: %q; want the same", pair[0], r1, pair[1], r2)
		}
		if c1, c2 := l.fence.Check("${file:"+pair[0]+"}"), l.fence.Check("${file:"+pair[1]+"}"); c1 == nil || c2 == nil || reason(t, c1) != reason(t, c2) {
			t.Errorf("Check %s: %v; %s: %v; want the same refusal", pair[0], c1, pair[1], c2)
		}
	}
}

func reason(t *testing.T, err error) string {
	t.Helper()
	var e *secretref.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not a *secretref.Error", err)
	}
	return e.Reason
}

// TestCheck: Check refuses what the fence refuses, accepts what may
// appear later, and reads no value.
func TestCheck(t *testing.T) {
	l := newLayout(t)
	looked := 0
	l.fence.LookupEnv = func(string) (string, bool) { looked++; return "", false }
	for ref, refuse := range map[string]bool{
		"${env:VECTARA_CLIENT_SECRET}":         false,
		"${env:NOT_YET_SET_CLIENT_SECRET}":     false,
		"${file:" + l.secrets + "/ok}":         false,
		"${file:" + l.secrets + "/later}":      false, // may be mounted later
		"${env:GRANTD_ADMIN_TOKEN}":            true,
		"${env:HOME}":                          true,
		"${file:/proc/self/environ}":           true,
		"${file:" + l.data + "/master.key}":    true,
		"${file:" + l.secrets + "/to-environ}": true,
		"not a reference":                      true,
	} {
		if err := l.fence.Check(ref); (err != nil) != refuse {
			t.Errorf("Check(%s) = %v, want refused %v", ref, err, refuse)
		}
	}
	if looked != 0 {
		t.Errorf("Check looked up %d variables", looked)
	}
}

// TestOverlap: a secret dir that is, contains or is inside the data dir
// (also through a link) is refused at Validate and refuses every file
// reference at Resolve.
func TestOverlap(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	must(t, os.MkdirAll(filepath.Join(data, "sub"), 0o700))
	must(t, os.WriteFile(filepath.Join(data, "master.key"), []byte(masterValue), 0o600))
	must(t, os.WriteFile(filepath.Join(data, "sub", "x"), []byte("x"), 0o600))
	must(t, os.Symlink(data, filepath.Join(root, "alias")))
	for _, dir := range []string{data, root, filepath.Join(data, "sub"), filepath.Join(root, "alias"), filepath.Join(root, "alias", "sub"), "/"} {
		f := &secretref.Fence{Dir: dir, DataDir: data}
		if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("Validate with --secret-dir %s: %v", dir, err)
		}
		for _, p := range []string{data + "/master.key", dir + "/master.key", dir + "/x", data + "/sub/x"} {
			v, err := f.Resolve(ctx, "${file:"+filepath.Clean(p)+"}")
			if err == nil || !errors.Is(err, secretref.ErrRefused) || strings.Contains(err.Error(), masterValue) {
				t.Errorf("--secret-dir %s, %s = %q, %v; want refused", dir, p, v, err)
			}
		}
	}
	// A data dir that does not exist yet is still compared, resolved
	// through the links of its parent.
	if err := (&secretref.Fence{Dir: root, DataDir: filepath.Join(root, "alias", "new")}).Validate(); err == nil {
		t.Error("a secret dir containing a data dir to be created is accepted")
	}
	if err := (&secretref.Fence{Dir: filepath.Join(root, "secrets"), DataDir: data}).Validate(); err != nil {
		t.Errorf("a secret dir beside the data dir: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		f    secretref.Fence
		want string
	}{
		{secretref.Fence{EnvAllow: []string{"[abc"}}, "--secret-env-allow"},
		{secretref.Fence{EnvAllow: []string{""}}, "--secret-env-allow"},
		{secretref.Fence{Dir: "run/secrets"}, "absolute"},
		{secretref.Fence{Dir: "/run/secrets", DataDir: "data"}, "absolute"},
	} {
		if err := tt.f.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.f, err, tt.want)
		}
	}
}

// TestOff: an empty allowlist, a nil LookupEnv or an empty Dir turn that
// kind of reference off, with the reason.
func TestOff(t *testing.T) {
	l := newLayout(t)
	for _, tt := range []struct {
		f        secretref.Fence
		ref, msg string
	}{
		{secretref.Fence{LookupEnv: os.LookupEnv}, "${env:VECTARA_CLIENT_SECRET}", "--secret-env-allow is empty"},
		{secretref.Fence{EnvAllow: []string{"*"}}, "${env:VECTARA_CLIENT_SECRET}", "not enabled"},
		{secretref.Fence{EnvAllow: []string{"*"}, LookupEnv: os.LookupEnv}, "${env:GRANTD_ADMIN_TOKEN}", "GRANTD_*"},
		{secretref.Fence{}, "${file:" + l.secrets + "/ok}", "--secret-dir is empty"},
	} {
		if _, err := tt.f.Resolve(ctx, tt.ref); !errors.Is(err, secretref.ErrRefused) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%+v %s: %v, want %q", tt.f, tt.ref, err, tt.msg)
		}
	}
}

// TestNotRefNeverEchoed: a string that is not a reference may be a
// secret; the error does not repeat it.
func TestNotRefNeverEchoed(t *testing.T) {
	f := &secretref.Fence{}
	for _, s := range []string{"a-literal-secret", "${env:bad-name-secret}", "${file:relative-secret}"} {
		_, err := f.Resolve(ctx, s)
		if !errors.Is(err, secretref.ErrNotRef) || strings.Contains(err.Error(), "secret}") || strings.Contains(err.Error(), "literal") {
			t.Errorf("%q: %v", s, err)
		}
	}
}

package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/secretref"
)

// config is everything serve reads from flags and their GRANTD_* twins.
// A flag given on the command line wins over its environment variable.
type config struct {
	Addr           string
	DataDir        string
	PublicURL      string
	AllowPrivate   bool
	LogLevel       string
	LogFormat      string
	MetricsPublic  bool
	ProxyTimeout   time.Duration
	ShutdownGrace  time.Duration
	RefreshWorkers int
	PprofAddr      string
	WebhookURLs    []string
	ReturnOrigins  []string
	Store          string
	EtcdEndpoints  []string
	EtcdPrefix     string
	LockTTL        time.Duration
	// SecretEnvAllow and SecretDir fence client secret references (see
	// secretFence).
	SecretEnvAllow []string
	SecretDir      string
	// From the environment only: secrets do not belong on command lines,
	// where ps shows them.
	AdminToken    string
	MasterKey     string
	WebhookSecret string
}

const serveHelp = `Usage: grantd serve [flags]

Runs grantd: the REST API (/api/v1), the web UI (/) and the
authenticating proxy, on the bbolt store in the data dir (or on etcd with
--store etcd). Every flag has an environment twin, named in brackets; a
flag on the command line wins.

Secrets are read from the environment only (a command line shows in ps):
  GRANTD_ADMIN_TOKEN     the admin token (at least 16 characters). Unset: one
                         is generated on the first start, printed once, and
                         only its SHA-256 stored; lost it? stop grantd and run
                         grantd admin-token reset
  GRANTD_MASTER_KEY      base64 of 32 random bytes that encrypts the keyset
                         (grantd keys generate makes one). Unset: a
                         development key file master.key in the data dir,
                         created on the first start; not for production.
                         Required with --store etcd
  GRANTD_WEBHOOK_SECRET  signs webhook deliveries (at least 16 characters);
                         required with --webhook-url

A datasource's clientSecret, privateKey, serviceAccountJson and
upstreamPrivateKey may each be a reference, resolved at each use inside a
fence: ${env:NAME} only for names matching
--secret-env-allow (never GRANTD_*), ${file:PATH} only for regular files
inside --secret-dir (after resolving links; never the data dir). An empty
--secret-env-allow= or --secret-dir= turns that kind of reference off.
`

// parseServeFlags reads serve's flags and their environment twins. Help
// (-h) goes to stdout.
func parseServeFlags(args []string, stdout io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", env("GRANTD_ADDR", "127.0.0.1:8080"), "`HOST:PORT` to listen on (GRANTD_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("GRANTD_DATA_DIR", "./data"), "the `DIR` that holds grantd.db, keyset.json and the development master.key (GRANTD_DATA_DIR)")
	fs.StringVar(&c.PublicURL, "public-url", env("GRANTD_PUBLIC_URL", ""), "the `URL` users and providers reach grantd at; the redirect URI is <URL>/api/v1/datasources/authorize (GRANTD_PUBLIC_URL; default http://<addr>)")
	allow, err := envBool("GRANTD_ALLOW_PRIVATE_NETWORKS")
	if err != nil {
		return nil, err
	}
	fs.BoolVar(&c.AllowPrivate, "allow-private-networks", allow, "allow loopback/private/link-local upstreams (GRANTD_ALLOW_PRIVATE_NETWORKS)")
	fs.StringVar(&c.LogLevel, "log-level", env("GRANTD_LOG_LEVEL", "info"), "debug|info|warn|error (GRANTD_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("GRANTD_LOG_FORMAT", "text"), "text|json (GRANTD_LOG_FORMAT)")
	mp, err := envBool("GRANTD_METRICS_PUBLIC")
	if err != nil {
		return nil, err
	}
	fs.BoolVar(&c.MetricsPublic, "metrics-public", mp, "serve /metrics without auth (GRANTD_METRICS_PUBLIC)")
	pt, err := envDuration("GRANTD_PROXY_TIMEOUT", 30*time.Second)
	if err != nil {
		return nil, err
	}
	fs.DurationVar(&c.ProxyTimeout, "proxy-timeout", pt, "upstream timeout (GRANTD_PROXY_TIMEOUT)")
	sg, err := envDuration("GRANTD_SHUTDOWN_GRACE", 10*time.Second)
	if err != nil {
		return nil, err
	}
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", sg, "graceful shutdown wait (GRANTD_SHUTDOWN_GRACE)")
	rw, err := envInt("GRANTD_REFRESH_WORKERS", 64)
	if err != nil {
		return nil, err
	}
	fs.IntVar(&c.RefreshWorkers, "refresh-workers", rw, "concurrent background refreshes (GRANTD_REFRESH_WORKERS)")
	fs.StringVar(&c.Store, "store", env("GRANTD_STORE", "bolt"), "bolt (one process, the data dir) or etcd (replicas) (GRANTD_STORE)")
	var endpoints urlList
	endpoints.set(env("GRANTD_ETCD_ENDPOINTS", ""))
	fs.Var(&endpoints, "etcd-endpoints", "etcd client `URLs`, comma-separated or repeated (GRANTD_ETCD_ENDPOINTS)")
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", env("GRANTD_ETCD_PREFIX", "/grantd/"), "key prefix in etcd (GRANTD_ETCD_PREFIX)")
	lt, err := envDuration("GRANTD_LOCK_TTL", 10*time.Second)
	if err != nil {
		return nil, err
	}
	fs.DurationVar(&c.LockTTL, "lock-ttl", lt, "etcd: lease of the refresh locks; a dead replica's refresh is taken over after this (GRANTD_LOCK_TTL)")
	var hooks urlList
	hooks.set(env("GRANTD_WEBHOOK_URLS", ""))
	var origins urlList
	origins.set(env("GRANTD_ALLOWED_RETURN_ORIGINS", ""))
	fs.Var(&origins, "allowed-return-origins", "origins (https://app.example.com) a connect session's returnTo may be an absolute URL on; comma-separated or repeated (GRANTD_ALLOWED_RETURN_ORIGINS)")
	fs.Var(&hooks, "webhook-url", "POST every event to this `URL`, signed with GRANTD_WEBHOOK_SECRET; repeat the flag for more (GRANTD_WEBHOOK_URLS, comma-separated)")
	var envAllow string
	fs.StringVar(&envAllow, "secret-env-allow", env("GRANTD_SECRET_ENV_ALLOW", strings.Join(secretref.DefaultEnvAllow, ",")),
		"`PATTERNS`, comma-separated globs (path.Match): the variables a ${env:NAME} client secret may name; GRANTD_* never; empty: none (GRANTD_SECRET_ENV_ALLOW)")
	fs.StringVar(&c.SecretDir, "secret-dir", env("GRANTD_SECRET_DIR", secretref.DefaultDir),
		"the `DIR` a ${file:PATH} client secret must resolve inside (links resolved); apart from the data dir; empty: no file references (GRANTD_SECRET_DIR)")
	fs.StringVar(&c.PprofAddr, "pprof-addr", env("GRANTD_PPROF_ADDR", ""), "serve net/http/pprof on this `HOST:PORT`, for profiling; off when empty; never expose it (GRANTD_PPROF_ADDR)")
	rest, err := parseArgs(fs, serveHelp, args, stdout)
	if err != nil {
		return nil, err
	}
	if err := noArgs(fs, rest); err != nil {
		return nil, err
	}
	c.AdminToken = os.Getenv("GRANTD_ADMIN_TOKEN")
	c.MasterKey = os.Getenv("GRANTD_MASTER_KEY")
	c.WebhookSecret = os.Getenv("GRANTD_WEBHOOK_SECRET")
	c.WebhookURLs = hooks.urls
	for _, o := range origins.urls {
		for _, p := range strings.Split(o, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.ReturnOrigins = append(c.ReturnOrigins, p)
			}
		}
	}
	var eps []string
	for _, e := range endpoints.urls {
		for _, p := range strings.Split(e, ",") {
			if p = strings.TrimSpace(p); p != "" {
				eps = append(eps, p)
			}
		}
	}
	c.EtcdEndpoints = eps
	for _, p := range strings.Split(envAllow, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.SecretEnvAllow = append(c.SecretEnvAllow, p)
		}
	}
	return c, c.check()
}

func (c *config) check() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return usageError{fmt.Sprintf("--addr %q: want host:port", c.Addr)}
	}
	if c.PublicURL == "" {
		host, port, _ := net.SplitHostPort(c.Addr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return usageError{fmt.Sprintf("--public-url %q: want an absolute http(s) URL without query or credentials", c.PublicURL)}
	}
	if _, err := c.level(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return usageError{fmt.Sprintf("--log-format %q: want text or json", c.LogFormat)}
	}
	switch c.Store {
	case "bolt":
	case "etcd":
		if len(c.EtcdEndpoints) == 0 {
			return usageError{"--store etcd needs --etcd-endpoints (GRANTD_ETCD_ENDPOINTS)"}
		}
		if c.LockTTL < time.Second {
			return usageError{"--lock-ttl must be at least 1s"}
		}
	default:
		return usageError{fmt.Sprintf("--store %q: want bolt or etcd", c.Store)}
	}
	if c.RefreshWorkers < 1 {
		return usageError{"--refresh-workers must be at least 1"}
	}
	for _, o := range c.ReturnOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return usageError{fmt.Sprintf("--allowed-return-origins %q: want an origin such as https://app.example.com", o)}
		}
	}
	for _, h := range c.WebhookURLs {
		if u, err := url.Parse(h); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError{fmt.Sprintf("--webhook-url %q: want an absolute http(s) URL", h)}
		}
	}
	if len(c.WebhookURLs) > 0 && len(c.WebhookSecret) < 16 {
		return usageError{"webhooks need GRANTD_WEBHOOK_SECRET (at least 16 characters) to sign deliveries"}
	}
	if c.SecretDir != "" {
		abs, err := filepath.Abs(c.SecretDir)
		if err != nil {
			return usageError{fmt.Sprintf("--secret-dir %q: %v", c.SecretDir, err)}
		}
		c.SecretDir = abs
	}
	// Before anything is created: a fence that overlaps the data dir is
	// a usage error, not a server that starts and refuses every file.
	if err := c.secretFence().Validate(); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// urlList is a repeatable flag whose default may be comma-separated.
type urlList struct {
	urls    []string
	fromEnv bool
}

func (l *urlList) set(csv string) {
	for _, u := range strings.Split(csv, ",") {
		if u = strings.TrimSpace(u); u != "" {
			l.urls = append(l.urls, u)
			l.fromEnv = true
		}
	}
}

func (l *urlList) String() string { return strings.Join(l.urls, ",") }

// Set adds a URL; the first flag on the command line replaces the
// environment's list.
func (l *urlList) Set(v string) error {
	if l.fromEnv {
		l.urls, l.fromEnv = nil, false
	}
	l.urls = append(l.urls, v)
	return nil
}

func (c *config) storeConfig() storeConfig {
	return storeConfig{kind: c.Store, endpoints: c.EtcdEndpoints, prefix: c.EtcdPrefix}
}

func (c *config) publicURL() *url.URL {
	u, _ := url.Parse(strings.TrimRight(c.PublicURL, "/"))
	return u
}

func (c *config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", c.LogLevel)}
	}
	return l, nil
}

func (c *config) logger(w io.Writer) *slog.Logger {
	l, _ := c.level()
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		// Durations as the text logs write them ("1.5s"), not as
		// nanosecond counts.
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func envBool(key string) (bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usageError{fmt.Sprintf("%s=%q: want true or false", key, v)}
	}
	return b, nil
}

func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, usageError{fmt.Sprintf("%s=%q: want a duration such as 30s", key, v)}
	}
	return d, nil
}

func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, usageError{fmt.Sprintf("%s=%q: want a number", key, v)}
	}
	return n, nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/grantd/grantd/access"
	"github.com/grantd/grantd/api"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/etcd"
	"github.com/grantd/grantd/grants"
	"github.com/grantd/grantd/mcp"
	"github.com/grantd/grantd/outbound"
	"github.com/grantd/grantd/timeline"
	"github.com/grantd/grantd/ui"
	"github.com/grantd/grantd/webhook"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServeFlags(args, stdout)
	if err != nil {
		return err
	}
	log := c.logger(stderr)
	// Listen before creating anything: a start that cannot listen leaves
	// no data dir, master key, keyset, database or admin token behind, so
	// the next start is still a first start (and prints the token).
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	defer ln.Close()
	var pprofLn net.Listener
	if c.PprofAddr != "" {
		if pprofLn, err = net.Listen("tcp", c.PprofAddr); err != nil {
			return fmt.Errorf("--pprof-addr: %w", err)
		}
		defer pprofLn.Close()
	}
	st, err := openStackWith(c.storeConfig(), c.DataDir, c.MasterKey, log)
	if err != nil {
		return err
	}
	defer st.Close()
	adminHash, err := adminTokenHash(ctx, st.store, c.AdminToken, stdout, log)
	if err != nil {
		return err
	}
	sessionKey, err := access.SessionKey(ctx, st.store, st.keys)
	if err != nil {
		return err
	}

	var keys *access.Keys
	stopKeys := func() {}
	if ks, ok := st.store.(datasource.APIKeys); ok {
		if keys, err = access.NewKeys(ctx, ks, nil, log); err != nil {
			return fmt.Errorf("loading API keys: %w", err)
		}
		kctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		watch, _ := st.store.(datasource.APIKeyWatcher)
		go func() { keys.Run(kctx, watch); close(done) }()
		stopKeys = sync.OnceFunc(func() { cancel(); <-done }) // writes the last uses; before the store closes
		defer stopKeys()
	}

	var sessions *access.AgentSessions
	stopSessions := func() {}
	if as, ok := st.store.(datasource.AgentSessions); ok {
		sessions = access.NewAgentSessions(as, nil, log)
		sctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		watch, _ := st.store.(datasource.AgentSessionWatcher)
		go func() { sessions.Run(sctx, watch); close(done) }()
		stopSessions = sync.OnceFunc(func() { cancel(); <-done })
		defer stopSessions()
	}

	public := c.publicURL()
	dialer := &outbound.Dialer{AllowPrivate: c.AllowPrivate, RefusalHint: "set GRANTD_ALLOW_PRIVATE_NETWORKS=true to allow it"}
	metrics := api.NewMetrics()
	hooks, err := webhook.New(webhook.Config{Store: st.store, URLs: c.WebhookURLs, Secret: []byte(c.WebhookSecret), Dialer: dialer, Logger: log})
	if err != nil {
		return err
	}
	hooks.Start()
	defer hooks.Close()
	engineHooks := metrics.Hooks()
	engineHooks.StatusChange = func(c grants.StatusChange) { hooks.Publish(c.Event()) }
	engineHooks.HealthChange = func(h grants.HealthChange) { hooks.Publish(h.Event()) }
	tl := timeline.New(nil)
	engineHooks.TokenChange = func(c grants.TokenChange) {
		tl.Token(c.Key, timeline.TokenEvent{Kind: c.Kind, At: c.At, ExpiresAt: c.ExpiresAt, Detail: c.Detail})
	}
	fence := c.secretFence()
	opts := grants.Options{
		Logger:         log,
		RedirectURI:    api.RedirectURI(public),
		Dialer:         dialer,
		Workers:        c.RefreshWorkers,
		Hooks:          engineHooks,
		ResolveSecret:  fence.Resolve,
		CheckSecretRef: fence.Check,
	}
	var locker *etcd.Locker
	if st.etcd != nil {
		// Replicas: one token request per refresh across all of them.
		var err error
		locker, err = st.etcd.Locker(c.LockTTL)
		if err != nil {
			return fmt.Errorf("etcd lock session: %w", err)
		}
		defer locker.Close()
		opts.Locker = locker
	}
	engine := grants.New(st.store, opts)
	start := time.Now()
	if err := engine.Start(ctx); err != nil {
		return fmt.Errorf("starting the refresher: %w", err)
	}
	defer engine.Close()
	metrics.CountStatuses(engine.StatusCounts)
	if es, ok := st.store.(datasource.Watcher); ok {
		// Another replica's refresh: install its token in place (callers
		// keep being served from memory meanwhile). An edit: drop the
		// cached copy, so the next caller reads the new configuration.
		wctx, stopWatch := context.WithCancel(context.Background())
		defer stopWatch()
		go es.Watch(wctx, func(c datasource.Change) {
			if c.Token {
				engine.TokenStored(wctx, c.Key)
			} else {
				engine.Invalidate(wctx, c.Key)
			}
		})
	}

	mcpMetrics := mcp.NewMetrics()
	metrics.Registry().MustRegister(mcpMetrics.Collectors()...)
	agents := mcp.New(mcp.Config{
		Engine:    engine,
		PublicURL: public,
		Keys:      keys,
		Sessions:  sessions,
		Dialer:    dialer,
		Logger:    log,
		Publish:   hooks.Publish,
		Metrics:   mcpMetrics,
		Version:   version,
		Timeout:   c.ProxyTimeout,
	})
	srv := api.New(api.Config{
		Engine:               engine,
		PublicURL:            public,
		AdminTokenHash:       adminHash,
		Keys:                 keys,
		Timeline:             tl,
		AgentSessions:        sessions,
		MCP:                  agents.Handler(),
		SessionKey:           sessionKey,
		Dialer:               dialer,
		UI:                   ui.Files(),
		Logger:               log,
		Metrics:              metrics,
		Events:               st.store,
		Meta:                 st.store,
		Publish:              hooks.Publish,
		MetricsPublic:        c.MetricsPublic,
		ProxyTimeout:         c.ProxyTimeout,
		AllowedReturnOrigins: c.ReturnOrigins,
		Version:              version,
		Ready: func(ctx context.Context) error {
			_, err := access.AdminTokenHash(ctx, st.store)
			switch {
			case errors.Is(err, datasource.ErrNotFound) && c.AdminToken != "":
				err = nil
			case errors.Is(err, datasource.ErrUnavailable) && st.etcd != nil:
				// etcd without a quorum: this replica still serves the
				// tokens it holds until they expire, but it can neither
				// refresh them nor take writes. Readiness says so, so a
				// load balancer or an operator sees it while it lasts.
				return fmt.Errorf("etcd unavailable: tokens cannot be refreshed, cached ones are served until they expire: %w", err)
			}
			if err == nil && locker != nil {
				// A lease lost in an outage is replaced here too (Err makes
				// a new session), not only by the next token request.
				if lerr := locker.Err(ctx); lerr != nil {
					return fmt.Errorf("cannot take refresh locks: %w", lerr)
				}
			}
			return err
		},
	})
	if pprofLn != nil {
		go http.Serve(pprofLn, http.DefaultServeMux) // net/http/pprof registers on the default mux
		log.Warn("profiling endpoints are on; do not expose them", "addr", pprofLn.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("grantd serving", "addr", ln.Addr().String(), "publicUrl", public.String(),
		"redirectUri", api.RedirectURI(public), "mcpUrl", mcp.MCPURL(public), "store", c.Store, "dataDir", c.DataDir, "version", version,
		"allowPrivateNetworks", c.AllowPrivate, "secretDir", c.SecretDir, "secretEnvAllow", strings.Join(c.SecretEnvAllow, ","), "startup", time.Since(start).Round(time.Millisecond))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "err", err)
	}
	engine.Close()
	hooks.Close()
	stopKeys()
	stopSessions()
	if err := st.Close(); err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}

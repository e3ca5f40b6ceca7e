package api

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// Metrics are grantd's Prometheus metrics:
//
//	grantd_token_requests_total{grant,request,result}     token endpoint calls
//	grantd_token_request_duration_seconds{grant,request}  their latency (refresh latency)
//	grantd_proxy_requests_total{status}                   proxied calls by answer status
//	grantd_proxy_request_duration_seconds                 proxied call latency
//	grantd_http_requests_total{route,status}              every API call
//	grantd_datasources{status}                            datasources by status
//	grantd_refresh_lock_failures_total                    token requests not made: the cross-replica lock failed
//	grantd_store_failures_total{op}                       token records that could not be stored
type Metrics struct {
	reg           *prometheus.Registry
	tokenRequests *prometheus.CounterVec
	tokenDuration *prometheus.HistogramVec
	proxyRequests *prometheus.CounterVec
	proxyDuration prometheus.Histogram
	httpRequests  *prometheus.CounterVec
	lockFailures  prometheus.Counter
	storeFailures *prometheus.CounterVec
	statuses      atomic.Pointer[func() map[datasource.Status]int]
}

// NewMetrics returns the metrics on a registry of their own, with Go and
// process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		tokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_token_requests_total", Help: "Token endpoint requests by grant, request type and result (ok, transient, permanent).",
		}, []string{"grant", "request", "result"}),
		tokenDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grantd_token_request_duration_seconds", Help: "Token endpoint request latency; request=refresh_token is the refresh latency.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"grant", "request"}),
		proxyRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_proxy_requests_total", Help: "Proxied requests by the status grantd answered.",
		}, []string{"status"}),
		proxyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "grantd_proxy_request_duration_seconds", Help: "Proxied request latency until response headers.",
			Buckets: prometheus.DefBuckets,
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		lockFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "grantd_refresh_lock_failures_total", Help: "Token requests not made because the cross-replica refresh lock could not be taken (etcd unavailable).",
		}),
		storeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_store_failures_total", Help: "Token records that could not be stored (the store unavailable), by operation.",
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.tokenRequests, m.tokenDuration, m.proxyRequests, m.proxyDuration, m.httpRequests, m.lockFailures, m.storeFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&statusCollector{m: m, desc: prometheus.NewDesc("grantd_datasources", "Datasources by status.", []string{"status"}, nil)})
	return m
}

// Registry returns the registry, to add more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// TokenRequest is a grants.Hooks TokenRequest function.
func (m *Metrics) TokenRequest(g datasource.GrantType, request, result string, took time.Duration) {
	m.tokenRequests.WithLabelValues(string(g), request, result).Inc()
	m.tokenDuration.WithLabelValues(string(g), request).Observe(took.Seconds())
}

// Hooks returns grants hooks that feed the metrics.
func (m *Metrics) Hooks() grants.Hooks {
	return grants.Hooks{
		TokenRequest: m.TokenRequest,
		LockFailure:  func(error) { m.lockFailures.Inc() },
		StoreFailure: func(op string, _ error) { m.storeFailures.WithLabelValues(op).Inc() },
	}
}

// CountStatuses sets where grantd_datasources reads from (Engine.StatusCounts).
func (m *Metrics) CountStatuses(f func() map[datasource.Status]int) { m.statuses.Store(&f) }

type statusCollector struct {
	m    *Metrics
	desc *prometheus.Desc
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.statuses.Load()
	if f == nil {
		return
	}
	for st, n := range (*f)() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), string(st))
	}
}

func (m *Metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

func (m *Metrics) middleware(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	route := c.Route().Path
	status := c.Response().StatusCode()
	if err != nil {
		status = problemFor(err).Status
	}
	code := strconv.Itoa(status)
	if strings.Contains(route, "/proxy") {
		m.proxyRequests.WithLabelValues(code).Inc()
		m.proxyDuration.Observe(time.Since(start).Seconds())
	}
	if route == "/" || route == "" {
		route = "other"
	}
	m.httpRequests.WithLabelValues(route, code).Inc()
	return err
}

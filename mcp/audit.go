package mcp

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grantd/grantd/datasource"
)

// Metrics are MCP's Prometheus metrics:
//
//	grantd_mcp_tool_calls_total{tool,outcome,status}   tool calls: outcome ok, not_connected, refused or failed;
//	                                                   status is the upstream's HTTP status ("" when none came)
//	grantd_mcp_tool_call_duration_seconds{tool}        tool call latency, upstream call included
//
// Register Collectors on the server's registry.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics returns MCP's metrics, registered nowhere yet.
func NewMetrics() *Metrics {
	return &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grantd_mcp_tool_calls_total", Help: "MCP tool calls by tool, outcome (ok, not_connected, refused, failed) and upstream HTTP status.",
		}, []string{"tool", "outcome", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grantd_mcp_tool_call_duration_seconds", Help: "MCP tool call latency, the upstream call included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"tool"}),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.duration}
}

// maxAuditPath bounds the path an audit event records.
const maxAuditPath = 512

// record audits one tool call and counts it: who (the key or session),
// for which end user, on which datasource, the method, the path without
// its query and the upstream's status. Never a body, a query or a token.
func (s *Server) record(c *caller, tool string, d *datasource.Datasource, method, path string, status int, outcome string, start time.Time) {
	if m := s.cfg.Metrics; m != nil {
		code := ""
		if status != 0 {
			code = strconv.Itoa(status)
		}
		m.calls.WithLabelValues(tool, outcome, code).Inc()
		m.duration.WithLabelValues(tool).Observe(time.Since(start).Seconds())
	}
	if s.cfg.Publish == nil {
		return
	}
	if len(path) > maxAuditPath {
		path = path[:maxAuditPath] + "…"
	}
	e := &datasource.Event{Type: datasource.EventMCPToolCall, Actor: c.actor, EndUserID: c.endUser,
		Tool: tool, Method: method, Path: path, HTTPStatus: status, Detail: outcome}
	if d != nil {
		e.DatasourceID, e.DatasourceName = d.ID, d.Name
	}
	s.cfg.Publish(e)
}

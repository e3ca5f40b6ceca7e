package grants

import "github.com/grantd/grantd/datasource"

// Event is the event a status change makes, for the event log and
// webhooks. A shared datasource's is status.changed. A connection's (a
// per-user datasource) is connection.failed, with the classified reason,
// when it stops working, connection.recovered when it works again, and
// status.changed otherwise (a revocation, say) — each with its end user.
func (c StatusChange) Event() *datasource.Event {
	e := &datasource.Event{Type: datasource.EventStatusChanged, DatasourceID: c.ID, DatasourceName: c.Name, EndUserID: c.EndUserID,
		Actor: "grantd", Status: c.To, PreviousStatus: c.From, Detail: c.LastError}
	if c.EndUserID == "" {
		return e
	}
	switch {
	case failing(c.To) && !failing(c.From):
		e.Type, e.Reason = datasource.EventConnectionFailed, c.Reason
	case c.To == datasource.StatusAuthorized && failing(c.From):
		e.Type = datasource.EventConnectionRecovered
	}
	return e
}

// Event is the event a flipped health check makes: connection.failed
// (reason health_check_failed) or connection.recovered, for a shared
// datasource (no end user) or a connection.
func (h HealthChange) Event() *datasource.Event {
	e := &datasource.Event{Type: datasource.EventConnectionRecovered, DatasourceID: h.ID, DatasourceName: h.Name, EndUserID: h.EndUserID,
		Actor: "grantd", Detail: h.Health.Detail}
	if !h.Health.OK {
		e.Type, e.Reason = datasource.EventConnectionFailed, datasource.ReasonHealthCheckFailed
	}
	return e
}

func failing(s datasource.Status) bool {
	return s == datasource.StatusError || s == datasource.StatusNeedsReauthorization
}

package api

import (
	"context"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
)

// EventLister lists the event log for GET /api/v1/events; a
// datasource.EventLog is one.
type EventLister interface {
	ListEvents(ctx context.Context, q datasource.EventQuery) ([]*datasource.Event, error)
}

// audit records an action for the audit trail and the webhooks: who (the
// admin token's or session's fingerprint), what, on which datasource.
// Never a secret.
func (s *Server) audit(c *fiber.Ctx, typ string, d *datasource.Datasource, detail string) {
	if s.cfg.Publish == nil {
		return
	}
	actor, _ := c.Locals(localActor).(string)
	if actor == "" {
		actor = "anonymous"
	}
	e := &datasource.Event{Type: typ, Actor: actor, Detail: detail}
	if d != nil {
		e.DatasourceID, e.DatasourceName = d.ID, d.Name
	}
	s.cfg.Publish(e)
}

// auditConnection records an action on one end user's connection.
func (s *Server) auditConnection(c *fiber.Ctx, typ, id, endUser, detail string) {
	if s.cfg.Publish == nil {
		return
	}
	actor, _ := c.Locals(localActor).(string)
	if actor == "" {
		actor = "anonymous"
	}
	e := &datasource.Event{Type: typ, Actor: actor, Detail: detail, DatasourceID: id, EndUserID: endUser}
	if d, err := s.cfg.Engine.Datasource(c.UserContext(), id); err == nil {
		e.DatasourceName = d.Name
	}
	s.cfg.Publish(e)
}

// listEvents answers recent events, newest first: ?datasource=<id>,
// ?before=<event id> for the next page, ?limit=<1–500>.
func (s *Server) listEvents(c *fiber.Ctx) error {
	if s.cfg.Events == nil {
		return c.JSON(fiber.Map{"events": []any{}})
	}
	q := datasource.EventQuery{DatasourceID: c.Query("datasource"), EndUserID: c.Query("endUserId"), Before: c.Query("before")}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			p := probInvalid.with("limit must be a number from 1 to 500")
			p.Errors = []datasource.FieldError{{Field: "limit", Message: "must be a number from 1 to 500"}}
			return p
		}
		q.Limit = n
	}
	k := apiKeyOf(c)
	if k == nil || len(k.Datasources) == 0 {
		events, err := s.cfg.Events.ListEvents(c.UserContext(), q)
		if err != nil {
			return err
		}
		if events == nil {
			events = []*datasource.Event{}
		}
		return c.JSON(fiber.Map{"events": events})
	}
	if q.DatasourceID != "" {
		d, err := s.cfg.Engine.Datasource(c.UserContext(), q.DatasourceID)
		if err != nil && !errors.Is(err, datasource.ErrNotFound) {
			return err
		}
		if d == nil || !k.Covers(d) {
			return forbidden(k, "datasource "+q.DatasourceID, "", q.DatasourceID)
		}
	}
	events, err := s.coveredEvents(c.UserContext(), k, q)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"events": events})
}

// coveredEvents is a page of the events a limited API key may see: those
// about the datasources it covers (by the id and name the event recorded),
// read page after page until q.Limit are found or the log ends.
func (s *Server) coveredEvents(ctx context.Context, k *datasource.APIKey, q datasource.EventQuery) ([]*datasource.Event, error) {
	want := q.Limit
	if want <= 0 || want > 500 {
		want = 500
	}
	q.Limit = 500
	out := []*datasource.Event{}
	for range 20 { // at most 10,000 events read for one page
		page, err := s.cfg.Events.ListEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.DatasourceID != "" && k.Covers(&datasource.Datasource{ID: e.DatasourceID, Name: e.DatasourceName}) {
				out = append(out, e)
				if len(out) == want {
					return out, nil
				}
			}
		}
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].ID
	}
	return out, nil
}

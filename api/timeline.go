package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/timeline"
)

// localTarget is the key a proxied call was made as (set by the proxy
// once it resolved the datasource, for the timeline).
const localTarget = "grantd.target"

// timed records each proxied call in the timeline of the datasource or
// connection it was made as: when, how long, whether it failed (a 5xx,
// whether the upstream's or grantd's).
func (s *Server) timed(c *fiber.Ctx) error {
	if s.cfg.Timeline == nil {
		return c.Next()
	}
	start := time.Now()
	err := c.Next()
	k, ok := c.Locals(localTarget).(datasource.Key)
	if !ok {
		return err // refused before a datasource was resolved
	}
	status := c.Response().StatusCode()
	if err != nil {
		status = problemFor(err).Status
	}
	s.cfg.Timeline.Call(k, start, time.Since(start), status >= 500)
	return err
}

// TimelineView is the answer of the timeline routes.
type TimelineView struct {
	timeline.Snapshot
	// ExpiresAt is the current token's expiry, if one is held.
	ExpiresAt *time.Time `json:"expiresAt"`
}

func (s *Server) datasourceTimeline(c *fiber.Ctx) error {
	d, err := s.cfg.Engine.Datasource(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return s.timelineOf(c, datasource.SharedKey(d.ID))
}

func (s *Server) connectionTimeline(c *fiber.Ctx) error {
	user, err := endUserParam(c)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Engine.Connection(c.UserContext(), c.Params("id"), user); err != nil {
		return s.noConnection(c, err)
	}
	return s.timelineOf(c, datasource.Key{Datasource: c.Params("id"), EndUser: user})
}

func (s *Server) timelineOf(c *fiber.Ctx, k datasource.Key) error {
	var v TimelineView
	if s.cfg.Timeline != nil {
		v.Snapshot = s.cfg.Timeline.Snapshot(k)
	} else {
		v.Snapshot = timeline.New(nil).Snapshot(k)
	}
	if a, err := s.cfg.Engine.Status(c.UserContext(), k); err == nil && a.ExpiresAt != nil {
		v.ExpiresAt = a.ExpiresAt
	}
	return c.JSON(v)
}

package web

import (
	"context"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill"
)

// dashboardCache keeps the dashboard's figures: they aggregate every
// subscription, too much to compute on each request under load. They are
// recomputed as soon as the database's change stamp (store.ChangeStamp)
// moves, so a purchase shows on the next view on every copy of the server
// sharing the database; otherwise they are refreshed in the background once
// older than Config.DashboardTTL (for what changes without an event, such
// as seat reports), and at once when the business day changes.
type dashboardCache struct {
	mu         sync.Mutex
	d          *dashboard
	day        fulfill.Date // the business day they were computed for
	stamp      string       // the change stamp they were computed at
	at         time.Time    // when, in wall time
	refreshing bool
}

// cachedDashboard returns the dashboard's figures: fresh ones computed now
// if there are none for today or the data changed since, else the cached
// ones, refreshed in the background once older than the TTL.
func (s *Server) cachedDashboard(ctx context.Context) (*dashboard, error) {
	ttl := s.cfg.DashboardTTL
	if ttl <= 0 {
		return s.dashboardData(ctx)
	}
	c := &s.dash
	today := fulfill.Today(s.clock)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Read under the lock: requests that wait for one computation then
	// find it current instead of each computing again.
	stamp, err := s.db.ChangeStamp(ctx)
	if err != nil {
		return nil, err
	}
	if c.d == nil || c.day != today || c.stamp != stamp {
		d, err := s.dashboardData(ctx) // under the lock: one computation at a time
		if err != nil {
			return nil, err
		}
		c.d, c.day, c.stamp, c.at = d, today, stamp, d.AsOf
		return d, nil
	}
	if s.wallTime.Now().Sub(c.at) >= ttl && !c.refreshing {
		c.refreshing = true
		go func() {
			d, err := s.dashboardData(context.WithoutCancel(ctx))
			c.mu.Lock()
			defer c.mu.Unlock()
			c.refreshing = false
			if err != nil {
				s.log.Error("dashboard refresh", "err", err)
				return
			}
			if c.day == today && c.stamp == stamp {
				c.d, c.at = d, d.AsOf
			}
		}()
	}
	return c.d, nil
}

// WarmDashboard computes the dashboard's figures ahead of the first visit,
// so nobody waits for the first computation. It is a no-op without a TTL.
func (s *Server) WarmDashboard(ctx context.Context) error {
	if s.cfg.DashboardTTL <= 0 {
		return nil
	}
	_, err := s.cachedDashboard(ctx)
	return err
}

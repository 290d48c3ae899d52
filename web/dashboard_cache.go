package web

import (
	"context"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill"
)

// dashboardCache keeps the dashboard's figures for Config.DashboardTTL:
// they aggregate every subscription, too much to compute on each request
// under load, and figures a few seconds old are as useful.
type dashboardCache struct {
	mu         sync.Mutex
	d          *dashboard
	day        fulfill.Date // the business day they were computed for
	at         time.Time    // when, in wall time
	refreshing bool
}

// cachedDashboard returns the dashboard's figures: fresh ones computed now
// if there are none for today, else the cached ones, refreshed in the
// background once older than the TTL.
func (s *Server) cachedDashboard(ctx context.Context) (*dashboard, error) {
	ttl := s.cfg.DashboardTTL
	if ttl <= 0 {
		return s.dashboardData(ctx)
	}
	c := &s.dash
	today := fulfill.Today(s.clock)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d == nil || c.day != today {
		d, err := s.dashboardData(ctx) // under the lock: one computation at a time
		if err != nil {
			return nil, err
		}
		c.d, c.day, c.at = d, today, time.Now()
		return d, nil
	}
	if time.Since(c.at) >= ttl && !c.refreshing {
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
			if c.day == today {
				c.d, c.at = d, time.Now()
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

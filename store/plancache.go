package store

import (
	"maps"
	"slices"

	"github.com/fulfillhq/fulfill"
)

// A plan version never changes once inserted (a new version is a new row),
// so a transaction keeps the plans it read, by id and by code, and hands out
// copies: a billing run's batch renews a hundred subscriptions on the same
// few plans, and read them four times per renewal (pricing, license grants,
// the license mail), two statements each. InsertPlan forgets them, as it
// changes which version of a code is current. On PostgreSQL a plan version
// made current by another transaction while this one runs is seen by this
// one's next reads only if it had not read that code yet: the batch prices
// with the catalog as it was when it first looked.

// cachedPlan returns a copy of the plan this transaction read under key
// ("id:…" or "code:…"), or nil.
func (t *Tx) cachedPlan(key string) *fulfill.Plan {
	p, ok := t.plans[key]
	if !ok {
		return nil
	}
	return clonePlan(p)
}

// keepPlan remembers p, read in this transaction, under its id and, if it
// is the current version, its code.
func (t *Tx) keepPlan(p *fulfill.Plan, current bool) {
	if t.plans == nil {
		t.plans = map[string]*fulfill.Plan{}
	}
	c := clonePlan(p)
	t.plans["id:"+p.ID] = c
	if current {
		t.plans["code:"+p.Code] = c
	}
}

func clonePlan(p *fulfill.Plan) *fulfill.Plan {
	c := *p
	c.Prices = maps.Clone(p.Prices)
	c.Entitlements.Flags = slices.Clone(p.Entitlements.Flags)
	c.Entitlements.Limits = maps.Clone(p.Entitlements.Limits)
	return &c
}

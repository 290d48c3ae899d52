package license

import "slices"

// Entitled reports whether the license grants the named entitlement: a
// flag in Features, or a limit above zero in Limits.
func (p *Payload) Entitled(name string) bool {
	if n, ok := p.Limits[name]; ok {
		return n > 0
	}
	return slices.Contains(p.Features, name)
}

// Limit returns the named limit and whether the license sets one. A name
// the license does not limit returns 0, false: the product decides what an
// absent limit means (usually its own default).
func (p *Payload) Limit(name string) (int64, bool) {
	n, ok := p.Limits[name]
	return n, ok
}

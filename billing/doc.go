// Package billing is the pure money and pricing math of Fulfill: proration,
// tier upgrades, true-ups, quarterly seat reconciliation (QSR), tax decisions
// and invoice totals.
//
// Conventions, chosen so that every amount is reproducible to the cent:
//
//   - Money is an int64 count of the currency's minor unit (cents for USD,
//     yen for JPY) plus an ISO 4217 code held by the caller. Floats are never
//     used.
//   - Each prorated line is computed exactly with math/big and rounded once,
//     half away from zero, so previews and invoices agree and credits mirror
//     charges (round(-x) == -round(x)).
//   - Dates are calendar days, represented as time.Time at UTC midnight
//     (see Day). Period ends are exclusive.
//
// The package has no I/O and never reads the clock; callers pass dates in.
package billing

import "errors"

// ErrInvalid is wrapped by every argument error returned by this package, so
// callers can map it to a 4xx without string matching.
var ErrInvalid = errors.New("billing: invalid argument")

// ErrOverflow is wrapped when an exact result does not fit in int64 minor
// units; real prices never get there, so it signals corrupt input.
var ErrOverflow = errors.New("billing: amount overflows int64")

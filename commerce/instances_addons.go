package commerce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/store"
)

// ParseAddOnMetrics reads a Seat Link's add_on_metrics as GitLab sends it:
// an array of {"add_on_type", "purchased_seats", "assigned_seats"}, each
// field present, a string and two whole numbers. Absent or null is none.
// Anything else is refused as 422 invalid, naming the entry and field, so
// the instance's admin reads what to fix (GitLab's client shows errors).
// Fields GitLab may add later are ignored, like the rest of a seat link.
func ParseAddOnMetrics(raw json.RawMessage) ([]AddOnMetric, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return []AddOnMetric{}, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fulfill.FieldError(fulfill.EInvalid, "add_on_metrics",
			`add_on_metrics must be an array of {"add_on_type", "purchased_seats", "assigned_seats"}.`)
	}
	if len(entries) > MaxAddOnMetrics {
		return nil, fulfill.FieldError(fulfill.EOutOfRange, "add_on_metrics", "add_on_metrics has at most %d entries.", MaxAddOnMetrics)
	}
	out := make([]AddOnMetric, 0, len(entries))
	for i, e := range entries {
		m, err := parseAddOnMetric(e, fmt.Sprintf("add_on_metrics[%d]", i))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, checkAddOnMetrics(out)
}

func parseAddOnMetric(raw json.RawMessage, field string) (AddOnMetric, error) {
	var m AddOnMetric
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return m, fulfill.FieldError(fulfill.EInvalid, field,
			`%s must be an object {"add_on_type", "purchased_seats", "assigned_seats"}.`, field)
	}
	t, ok := obj["add_on_type"]
	if !ok || string(bytes.TrimSpace(t)) == "null" || json.Unmarshal(t, &m.AddOnType) != nil {
		return m, fulfill.FieldError(fulfill.EInvalid, field+".add_on_type", "%s.add_on_type must be a string, like \"duo_pro\".", field)
	}
	for name, dst := range map[string]*int64{"purchased_seats": &m.PurchasedSeats, "assigned_seats": &m.AssignedSeats} {
		v, ok := obj[name]
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if !ok || err != nil {
			return m, fulfill.FieldError(fulfill.EInvalid, field+"."+name, "%s.%s must be a whole number.", field, name)
		}
		*dst = n
	}
	return m, nil
}

// checkAddOnMetrics checks the entries of one sync: a known name, counts in
// range, each add-on once.
func checkAddOnMetrics(ms []AddOnMetric) error {
	if len(ms) > MaxAddOnMetrics {
		return fulfill.FieldError(fulfill.EOutOfRange, "add_on_metrics", "add_on_metrics has at most %d entries.", MaxAddOnMetrics)
	}
	seen := map[string]bool{}
	for i, m := range ms {
		field := fmt.Sprintf("add_on_metrics[%d]", i)
		switch {
		case strings.TrimSpace(m.AddOnType) == "" || fulfill.TextLen(m.AddOnType) > 255 || !fulfill.ValidText(m.AddOnType):
			return fulfill.FieldError(fulfill.EInvalid, field+".add_on_type", "%s.add_on_type is 1 to 255 characters.", field)
		case m.PurchasedSeats < 0 || m.PurchasedSeats > 100*MaxSeats:
			return fulfill.FieldError(fulfill.EOutOfRange, field+".purchased_seats", "%s.purchased_seats must be between 0 and %d.", field, 100*MaxSeats)
		case m.AssignedSeats < 0 || m.AssignedSeats > 100*MaxSeats:
			return fulfill.FieldError(fulfill.EOutOfRange, field+".assigned_seats", "%s.assigned_seats must be between 0 and %d.", field, 100*MaxSeats)
		case seen[m.AddOnType]:
			return fulfill.FieldError(fulfill.EInvalid, field+".add_on_type", "Add-on %q is reported twice.", m.AddOnType)
		}
		seen[m.AddOnType] = true
	}
	return nil
}

// mergeAddOnMetrics is a day's add-on seats after one more report: each
// add-on keeps the day's highest purchased and assigned counts (like the
// user counts of MergeSeatReport), in the order first reported.
func mergeAddOnMetrics(day, more []AddOnMetric) []AddOnMetric {
	out := append([]AddOnMetric{}, day...)
	at := map[string]int{}
	for i, m := range out {
		at[m.AddOnType] = i
	}
	for _, m := range more {
		i, ok := at[m.AddOnType]
		if !ok {
			at[m.AddOnType] = len(out)
			out = append(out, m)
			continue
		}
		out[i].PurchasedSeats = max(out[i].PurchasedSeats, m.PurchasedSeats)
		out[i].AssignedSeats = max(out[i].AssignedSeats, m.AssignedSeats)
	}
	return out
}

// recordSeatLinkAddOns stores a sync's add-on metrics with the day's seat
// report of its source, in the caller's transaction.
func recordSeatLinkAddOns(tx *store.Tx, subID string, day fulfill.Date, source string, ms []AddOnMetric) error {
	if len(ms) == 0 {
		return nil
	}
	cur, err := tx.SeatReportAddOns(subID, day, source)
	if err != nil {
		return err
	}
	return tx.SetSeatReportAddOns(subID, day, source, mergeAddOnMetrics(cur, ms))
}

// AddOnUsage is one add-on's seats on a subscription as its instances last
// reported them: per add-on, the highest counts of the latest day's
// reports (every instance of a license reports the license's purchased
// seats; the busiest instance says how many are assigned).
type AddOnUsage struct {
	AddOnType      string       `json:"add_on_type"`
	PurchasedSeats int64        `json:"purchased_seats"`
	AssignedSeats  int64        `json:"assigned_seats"`
	Date           fulfill.Date `json:"date"`
	// Over is how many seats are assigned beyond those purchased.
	Over int64 `json:"over"`
}

// LatestAddOnUsage is, per add-on, the highest counts of the latest day on
// which any add-on was reported.
func LatestAddOnUsage(reports []fulfill.SeatReport) []AddOnUsage {
	var last fulfill.Date
	for _, r := range reports {
		if len(r.AddOnMetrics) > 0 && r.Date.After(last) {
			last = r.Date
		}
	}
	var out []AddOnUsage
	at := map[string]int{}
	for _, r := range reports {
		if r.Date != last {
			continue
		}
		for _, m := range r.AddOnMetrics {
			i, ok := at[m.AddOnType]
			if !ok {
				i = len(out)
				at[m.AddOnType] = i
				out = append(out, AddOnUsage{AddOnType: m.AddOnType, Date: last})
			}
			out[i].PurchasedSeats = max(out[i].PurchasedSeats, m.PurchasedSeats)
			out[i].AssignedSeats = max(out[i].AssignedSeats, m.AssignedSeats)
		}
	}
	for i := range out {
		out[i].Over = max(0, out[i].AssignedSeats-out[i].PurchasedSeats)
	}
	return out
}

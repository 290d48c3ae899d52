package web

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/fulfillhq/fulfill"
)

// Charts are inline SVG drawn here, from numbers only (every text passes
// through html.EscapeString), so they need no script and no external asset.
// Each has a title and a description for screen readers; the pages also show
// the figures as text.

const (
	chartW, chartH = 640, 240
	padL, padR     = 56, 16
	padT, padB     = 16, 36
)

// niceMax rounds a maximum up to 1, 2 or 5 × a power of ten.
func niceMax(v int64) int64 {
	if v <= 0 {
		return 1
	}
	p := int64(1)
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// ticks chooses the grid of an axis from 0 to at least top: a step of 1, 2
// or 5 × a power of ten giving at most 5 intervals, and the top rounded up
// to a whole number of steps, so that every tick is a round number
// (0/10/20/30/40/50, not 0/12/25/37/50).
func ticks(top int64) (step, newTop int64) {
	if top <= 0 {
		top = 1
	}
	step = niceMax((top + 4) / 5)
	return step, (top + step - 1) / step * step
}

type svgBuf struct{ strings.Builder }

func (b *svgBuf) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func svgOpen(b *svgBuf, id, title, desc string) {
	b.f(`<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, id, id)
	b.f(`<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, html.EscapeString(title), id, html.EscapeString(desc))
}

// yAxis draws horizontal grid lines and their labels, and returns the
// function mapping a value to y.
func yAxis(b *svgBuf, top int64, label func(int64) string) func(int64) float64 {
	step, top := ticks(top)
	plotH := float64(chartH - padT - padB)
	y := func(v int64) float64 { return float64(padT) + plotH - plotH*float64(v)/float64(top) }
	for v := int64(0); v <= top; v += step {
		b.f(`<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		b.f(`<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-8, y(v)+4, html.EscapeString(label(v)))
	}
	return y
}

// seatChart draws max and billable users from the seat reports against the
// seat count over the term.
func seatChart(reports []fulfill.SeatReport, seats int64, start, end fulfill.Date) string {
	var b svgBuf
	top := seats
	for _, r := range reports {
		top = max(top, r.MaxUsers, r.BillableUsers)
	}
	top = niceMax(top + top/10)
	desc := fmt.Sprintf("%d seats from %s to %s.", seats, start, end)
	if n := len(reports); n > 0 {
		last := reports[n-1]
		desc += fmt.Sprintf(" %d reports; on %s, %d max users and %d billable users.", n, last.Date, last.MaxUsers, last.BillableUsers)
	} else {
		desc += " No seat reports yet."
	}
	svgOpen(&b, "seats", "Seat usage", desc)
	y := yAxis(&b, top, func(v int64) string { return fmt.Sprint(v) })
	// From the term start to its end, or, early in a term, to a month past
	// the latest report, so a few days of reports are not a sliver.
	from, to := start, end
	if len(reports) > 0 && reports[0].Date.Before(from) {
		from = reports[0].Date
	}
	last := from
	if n := len(reports); n > 0 {
		last = reports[n-1].Date
	}
	if early := max(from.AddDays(30).Time().Unix(), last.AddDays(30).Time().Unix()); early < to.Time().Unix() {
		to = fulfill.DateOf(time.Unix(early, 0))
	}
	span := to.Time().Sub(from.Time()).Hours()
	if span <= 0 {
		span = 24
	}
	plotW := float64(chartW - padL - padR)
	x := func(d fulfill.Date) float64 { return float64(padL) + plotW*d.Time().Sub(from.Time()).Hours()/span }
	for _, d := range []fulfill.Date{from, to} {
		anchor := "start"
		if d == to {
			anchor = "end"
		}
		b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(d), chartH-12, anchor, d.Time().Format("2 Jan 2006"))
	}
	b.f(`<line class="seats" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(seats), y(seats))
	b.f(`<text class="label seats-label" x="%d" y="%.1f" text-anchor="end">%d seats</text>`, chartW-padR-4, y(seats)-6, seats)
	line := func(class string, v func(fulfill.SeatReport) int64) {
		if len(reports) == 0 {
			return
		}
		var pts []string
		for _, r := range reports {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.Date), y(v(r))))
		}
		if len(pts) == 1 {
			b.f(`<circle class="%s dot" cx="%.1f" cy="%.1f" r="4"/>`, class, x(reports[0].Date), y(v(reports[0])))
			return
		}
		b.f(`<polyline class="%s" points="%s"/>`, class, strings.Join(pts, " "))
	}
	line("max", func(r fulfill.SeatReport) int64 { return r.MaxUsers })
	line("billable", func(r fulfill.SeatReport) int64 { return r.BillableUsers })
	b.f(`</svg>`)
	return b.String()
}

// point is one labelled value of a chart.
type point struct {
	Label string
	Value int64
	Text  string // the value as people read it
}

// lineChart draws a series over time, e.g. MRR by month.
func lineChart(id, title, desc string, pts []point, label func(int64) string) string {
	var b svgBuf
	svgOpen(&b, id, title, desc)
	var top int64
	for _, p := range pts {
		top = max(top, p.Value)
	}
	y := yAxis(&b, niceMax(top), label)
	plotW := float64(chartW - padL - padR)
	x := func(i int) float64 {
		if len(pts) < 2 {
			return float64(padL) + plotW/2
		}
		return float64(padL) + plotW*float64(i)/float64(len(pts)-1)
	}
	var coords []string
	for i, p := range pts {
		coords = append(coords, fmt.Sprintf("%.1f,%.1f", x(i), y(p.Value)))
		if (i%2 == 0 && i < len(pts)-2) || i == len(pts)-1 {
			anchor := "middle"
			switch {
			case i == 0 && len(pts) > 1:
				anchor = "start"
			case i == len(pts)-1 && len(pts) > 1:
				anchor = "end"
			}
			b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), chartH-12, anchor, html.EscapeString(p.Label))
		}
	}
	if len(coords) > 1 {
		area := fmt.Sprintf("%.1f,%.1f ", x(0), y(0)) + strings.Join(coords, " ") + fmt.Sprintf(" %.1f,%.1f", x(len(pts)-1), y(0))
		b.f(`<polygon class="area" points="%s"/>`, area)
		b.f(`<polyline class="line" points="%s"/>`, strings.Join(coords, " "))
	}
	for i, p := range pts {
		b.f(`<circle class="dot" cx="%.1f" cy="%.1f" r="3"><title>%s: %s</title></circle>`, x(i), y(p.Value), html.EscapeString(p.Label), html.EscapeString(p.Text))
	}
	b.f(`</svg>`)
	return b.String()
}

// barChart draws labelled bars; class picks each bar's colour.
func barChart(id, title, desc string, bars []point, classes []string) string {
	var b svgBuf
	svgOpen(&b, id, title, desc)
	var top int64
	for _, p := range bars {
		top = max(top, p.Value)
	}
	y := yAxis(&b, niceMax(top), func(v int64) string { return fmt.Sprint(v) })
	plotW := float64(chartW - padL - padR)
	slot := plotW / float64(max(len(bars), 1))
	bw := min(slot*0.6, 120)
	for i, p := range bars {
		x0 := float64(padL) + slot*float64(i) + (slot-bw)/2
		cls := "bar"
		if i < len(classes) {
			cls += " " + classes[i]
		}
		b.f(`<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="4"/>`, cls, x0, y(p.Value), bw, y(0)-y(p.Value))
		b.f(`<text class="label" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x0+bw/2, y(p.Value)-6, html.EscapeString(p.Text))
		b.f(`<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x0+bw/2, chartH-12, html.EscapeString(p.Label))
	}
	b.f(`</svg>`)
	return b.String()
}

// Package csvsafe writes CSV that spreadsheets open as data, never as
// formulas (OWASP's CSV injection guidance): every CSV export goes through
// its Writer.
//
// A cell that starts with =, +, -, @, a tab or a carriage return gets a
// leading single quote, which spreadsheets show as text. Plain numbers
// ("-500", "-12.50") are left alone: a spreadsheet reads them as numbers,
// not formulas, and amount columns must stay numeric for the accountants.
// A cell that already starts with single quotes before such a character
// gets one more, so Unescape gives back exactly what was written; the
// importer uses it, so an export imports unchanged.
package csvsafe

import (
	"encoding/csv"
	"io"
	"strings"
)

// Writer is a csv.Writer that escapes every cell it writes.
type Writer struct {
	*csv.Writer
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{csv.NewWriter(w)} }

// Write writes one record, each cell escaped.
func (w *Writer) Write(record []string) error {
	out := make([]string, len(record))
	for i, c := range record {
		out[i] = Escape(c)
	}
	return w.Writer.Write(out)
}

// Escape makes a cell safe to open in a spreadsheet.
func Escape(cell string) string {
	if needsQuote(cell) {
		return "'" + cell
	}
	return cell
}

// Unescape reverses Escape.
func Unescape(cell string) string {
	if strings.HasPrefix(cell, "'") && needsQuote(cell) {
		return cell[1:]
	}
	return cell
}

// needsQuote: after any leading quotes, the cell starts with a character
// that makes a spreadsheet evaluate it, and is not a plain number.
func needsQuote(cell string) bool {
	rest := strings.TrimLeft(cell, "'")
	if rest == "" {
		return false
	}
	switch rest[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return rest != cell || !plainNumber(rest)
	}
	return false
}

// plainNumber reports whether s is an optional minus sign, digits, and an
// optional decimal part: -500, 12, -0.25.
func plainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	return digits(whole) && (!dot || digits(frac))
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

package invoicepdf

import (
	"bytes"
	"reflect"
	"testing"
)

// Issue 18: a document takes Helvetica's metrics parsed once, not parsed
// again from fpdf's JSON for each document (a third of a rendering's CPU):
// after drawing, each style the document used has the cache's widths (the
// same array), not a copy parsed for it.
func TestDocumentsShareTheFontMetricsParsedOnce(t *testing.T) {
	t.Parallel()
	c := sharedFonts()
	if c == nil {
		t.Fatal("no font cache: fpdf's font table is not what fonts.go expects")
	}
	r := newRenderer(paidUS(), false, 1, true)
	r.draw()
	if err := r.pdf.Error(); err != nil {
		t.Fatal(err)
	}
	table, ok := fontTable(r.pdf)
	if !ok {
		t.Fatal("no font table")
	}
	used := 0
	for _, style := range helveticaStyles {
		key := reflect.ValueOf(fontKey(style))
		def := table.MapIndex(key)
		if !def.IsValid() {
			continue
		}
		used++
		got, want := def.FieldByName("Cw"), c.fonts.MapIndex(key).FieldByName("Cw")
		if got.Len() == 0 || got.Pointer() != want.Pointer() {
			t.Errorf("Helvetica %q: the document parsed its own widths", style)
		}
	}
	if used < 2 {
		t.Fatalf("the invoice used %d styles of Helvetica, want at least 2", used)
	}
}

// The shared metrics give the same bytes as metrics fpdf parses for the
// document, compressed or not, for every case.
func TestCachedFontMetricsGiveTheSameBytes(t *testing.T) {
	t.Parallel()
	for _, c := range cases {
		for _, compress := range []bool{false, true} {
			var parsed, cached bytes.Buffer
			if err := renderFonts(&parsed, c.doc(), compress, false); err != nil {
				t.Fatal(err)
			}
			if err := renderFonts(&cached, c.doc(), compress, true); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(parsed.Bytes(), cached.Bytes()) {
				t.Errorf("%s (compress %v): %d bytes with the shared metrics, %d with parsed ones, not the same",
					c.name, compress, cached.Len(), parsed.Len())
			}
		}
	}
}

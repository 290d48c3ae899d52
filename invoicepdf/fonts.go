package invoicepdf

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/go-pdf/fpdf"
)

// fpdf parses a core font's metrics (a JSON file embedded in it, 256
// character widths and a descriptor) again for every document that uses
// the font: for an invoice's three styles of Helvetica, json.Unmarshal was
// a third of a rendering's CPU. fpdf v0.9.0 offers no way to give a
// document metrics parsed already (its font loader and AddFontFromBytes
// parse the same JSON), so the metrics are parsed once, by a document that
// loads every style, and each new document is handed a copy of that
// document's entries in its (unexported) font table before its SetFont
// would parse them: what SetFont itself stores for a core font, which has
// no encoding differences and no font file. The output is byte for byte
// the same (TestCachedFontMetricsGiveTheSameBytes). Should fpdf's font
// table ever change shape, documents parse their fonts again, as before.
type fontCache struct {
	fonts reflect.Value // the font table of a document that loaded each style
}

// helveticaStyles are the styles of Helvetica the cache loads.
var helveticaStyles = []string{"", "B", "I", "BI"}

// sharedFonts is the one fontCache, nil if fpdf's font table is not what
// it expects.
var sharedFonts = sync.OnceValue(func() *fontCache {
	pdf := fpdf.New("P", "mm", "A4", "")
	for _, style := range helveticaStyles {
		pdf.SetFont("Helvetica", style, 10)
	}
	fonts, ok := fontTable(pdf)
	if !ok || pdf.Error() != nil {
		return nil
	}
	for _, style := range helveticaStyles {
		if !fonts.MapIndex(reflect.ValueOf(fontKey(style))).IsValid() {
			return nil
		}
	}
	return &fontCache{fonts: fonts}
})

// fontKey is fpdf's key of Helvetica in style in a document's font table.
func fontKey(style string) string { return "helvetica" + style }

// fontTable is pdf's font table, writable: a map from string keys to
// fpdf's font definitions (structs with the character widths, Cw).
func fontTable(pdf *fpdf.Fpdf) (reflect.Value, bool) {
	v := reflect.ValueOf(pdf).Elem().FieldByName("fonts")
	if !v.IsValid() || v.Kind() != reflect.Map || v.Type().Key().Kind() != reflect.String ||
		v.Type().Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	if cw, ok := v.Type().Elem().FieldByName("Cw"); !ok || cw.Type != reflect.TypeOf([]int(nil)) {
		return reflect.Value{}, false
	}
	v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	if v.IsNil() {
		return reflect.Value{}, false
	}
	return v, true
}

// documentFonts is what a renderer needs to give its document the cached
// metrics; its zero value leaves fpdf to parse them.
type documentFonts struct {
	cache *fontCache
	table reflect.Value
}

// cachedFonts prepares pdf for the shared metrics (none if there is no
// cache).
func cachedFonts(pdf *fpdf.Fpdf) documentFonts {
	c := sharedFonts()
	if c == nil {
		return documentFonts{}
	}
	table, ok := fontTable(pdf)
	if !ok {
		return documentFonts{}
	}
	return documentFonts{cache: c, table: table}
}

// load puts Helvetica in style in the document's font table, from the
// cache, unless it is there already (fpdf then finds it loaded). A copy of
// the definition is stored: the document numbers its fonts in its own
// copies when it is written; the widths, which nothing writes, are shared.
func (d documentFonts) load(style string) {
	if d.cache == nil {
		return
	}
	key := reflect.ValueOf(fontKey(style))
	if d.table.MapIndex(key).IsValid() {
		return
	}
	if def := d.cache.fonts.MapIndex(key); def.IsValid() {
		d.table.SetMapIndex(key, def)
	}
}

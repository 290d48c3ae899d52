package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/fulfillhq/fulfill"
)

type nullsInner struct {
	N int    `json:"n"`
	P *int   `json:"p"`
	S string `json:"s"`
}

type NullsEmbedded struct {
	E string `json:"e"`
}

type nullsOuter struct {
	NullsEmbedded
	Items []nullsInner            `json:"items"`
	ByKey map[string]nullsInner   `json:"by_key"`
	Ptr   *nullsInner             `json:"ptr"`
	Raw   json.RawMessage         `json:"raw"`
	Any   any                     `json:"any"`
	Date  fulfill.Date            `json:"date"`
	Deep  map[string][]nullsInner `json:"deep"`
	Plain string
}

func TestCheckNullsNamesTheFieldAtAnyDepth(t *testing.T) {
	t.Parallel()
	cases := []struct{ body, field string }{ // field "" when accepted
		{`{"items":null,"by_key":null,"ptr":null,"raw":null,"any":null}`, ""},
		{`{"items":[{"p":null}],"ptr":{"p":null},"raw":{"x":[null]},"any":[null]}`, ""},
		{`{"e":null}`, "e"},
		{`{"items":[{"n":1},{"n":null}]}`, "items.n"},
		{`{"by_key":{"a":null}}`, "by_key.a"},
		{`{"by_key":{"a":{"s":null}}}`, "by_key.a.s"},
		{`{"ptr":{"n":null}}`, "ptr.n"},
		{`{"date":null}`, "date"},
		{`{"deep":{"k":[{"s":"x"},{"s":null}]}}`, "deep.k.s"},
		{`{"plain":null}`, "plain"}, // matched case-insensitively, as encoding/json does
		{`{"items":[null]}`, "items"},
	}
	for _, c := range cases {
		err := checkNulls([]byte(c.body), reflect.TypeFor[nullsOuter]())
		fe, _ := err.(*fulfill.Error)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v, want accepted", c.body, err)
		case c.field != "" && (fe == nil || fe.Code != fulfill.EInvalidType || fe.Field != c.field):
			t.Errorf("%s: %v, want invalid_type on %s", c.body, err, c.field)
		}
	}
}

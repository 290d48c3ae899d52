package edgecheck

import (
	"net/http/httptest"
	"testing"

	"github.com/fulfillhq/fulfill"
)

func TestJSONNamesTheFieldWithBadText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body  string
		code, field string // code "" when accepted
	}{
		{"clean", `{"a":"é","b":[1,"x",{"c":null}],"d":true}`, "", ""},
		{"NUL escape", `{"a":"x\u0000"}`, fulfill.EInvalid, "a"},
		{"NUL deep in arrays", `{"a":[{"b":["ok","\u0000"]}]}`, fulfill.EInvalid, "a.b"},
		{"invalid UTF-8 in a value", "{\"a\":{\"b\":\"\xff\"}}", fulfill.EInvalid, "a.b"},
		{"invalid UTF-8 in a key", "{\"a\xff\":1}", fulfill.EInvalid, "a\uFFFD"},
		{"NUL in a key", `{"k\u0000":1}`, fulfill.EInvalid, "k\uFFFD"},
		{"top-level string", `"\u0000"`, fulfill.EInvalid, ""},
		{"escaped U+FFFD is fine", `{"a":"\ufffd"}`, "", ""},
		{"bad bytes in a later value", "{\"a\":\"ok\",\"b\":\"x\",\"c\":\"\xc3\"}", fulfill.EInvalid, "c"},
		{"not JSON: left to the decoder", `{"a":`, "", ""},
		{"not JSON, with invalid UTF-8", "{\xff", fulfill.EInvalidJSON, ""},
		{"raw NUL", "{\"a\":\"\x00\"}", fulfill.EInvalidJSON, ""},
		{"empty", "", "", ""},
	}
	for _, c := range cases {
		err := JSON([]byte(c.body))
		if got := fulfill.ErrorCode(err); got != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, got, c.code, err)
			continue
		}
		if fe, ok := err.(*fulfill.Error); ok && fe.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, fe.Field, c.field)
		}
	}
}

func TestParamsChecksPathAndQuery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, target, id string
		code, field      string
	}{
		{"clean", "/x/abc?limit=10&q=é", "abc", "", ""},
		{"NUL in the path value", "/x/a", "a\x00", fulfill.EInvalid, "id"},
		{"long path value", "/x/a", "ééééé", fulfill.EOutOfRange, "id"},
		{"invalid UTF-8 in a query value", "/x/a?q=%FF", "a", fulfill.EInvalid, "q"},
		{"NUL in a query key", "/x/a?q%00=1", "a", fulfill.EInvalid, "q\uFFFD"},
		{"long query value", "/x/a?q=abcdef", "a", fulfill.EOutOfRange, "q"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.target, nil)
		r.SetPathValue("id", c.id)
		err := Params(r, "GET /x/{id}", 4)
		if got := fulfill.ErrorCode(err); got != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, got, c.code, err)
			continue
		}
		if fe, ok := err.(*fulfill.Error); ok && fe.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.name, fe.Field, c.field)
		}
	}
	if got := Wildcards("POST /a/{id}/b/{pm}/{rest...}/{$}"); len(got) != 3 || got[0] != "id" || got[1] != "pm" || got[2] != "rest" {
		t.Errorf("Wildcards = %q", got)
	}
}

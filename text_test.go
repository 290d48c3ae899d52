package fulfill

import "testing"

func TestCheckTextCountsCharactersAndRefusesBadBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, s string
		max     int
		code    string // "" when accepted
	}{
		{"ascii at the limit", "abc", 3, ""},
		{"two-byte characters at the limit", "ééé", 3, ""},
		{"four-byte characters at the limit", "😀😀", 2, ""},
		{"one character over", "éééé", 3, EOutOfRange},
		{"no limit", "éééééééééé", 0, ""},
		{"NUL", "a\x00b", 0, EInvalid},
		{"invalid byte", "a\xffb", 0, EInvalid},
		{"truncated sequence", "\xc3", 0, EInvalid},
		{"overlong encoding", "\xc0\xaf", 0, EInvalid},
		{"UTF-16 surrogate", "\xed\xa0\x80", 0, EInvalid},
		{"empty", "", 5, ""},
	}
	for _, c := range cases {
		err := CheckText("name", c.s, c.max)
		if got := ErrorCode(err); got != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, got, c.code, err)
		}
		if err != nil {
			if fe := err.(*Error); fe.Field != "name" {
				t.Errorf("%s: field %q, want name", c.name, fe.Field)
			}
		}
		if ValidText(c.s) != (c.code != EInvalid) {
			t.Errorf("%s: ValidText = %v", c.name, ValidText(c.s))
		}
	}
	if n := TextLen("é😀a"); n != 3 {
		t.Errorf("TextLen = %d, want 3", n)
	}
}

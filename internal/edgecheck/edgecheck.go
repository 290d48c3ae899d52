// Package edgecheck checks the text of a request where it enters Fulfill,
// once, for the JSON API and the web pages alike: path values, query keys and
// values, form fields and every string of a JSON body must be valid UTF-8
// without NUL (PostgreSQL refuses both in text, and no field needs them),
// and lengths are counted in characters (fulfill.CheckText). An error is a
// *fulfill.Error naming the field, so it answers 4xx, never 500.
package edgecheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/fulfillhq/fulfill"
)

// Params checks the path values of r (the wildcards of pattern, a ServeMux
// pattern such as "GET /api/v1/customers/{id}") and its query keys and
// values, each at most max characters.
func Params(r *http.Request, pattern string, max int) error {
	for _, name := range Wildcards(pattern) {
		if err := fulfill.CheckText(name, r.PathValue(name), max); err != nil {
			return err
		}
	}
	return values(r.URL.Query(), max)
}

// Form parses r's form (query and url-encoded body) and checks every key
// and value; max bounds each value, 0 leaves lengths to the handler.
func Form(r *http.Request, max int) error {
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fulfill.Errorf(fulfill.ETooLarge, "The form is too large.")
		}
		return fulfill.Errorf(fulfill.EInvalid, "The form could not be read: it is not URL-encoded.")
	}
	return values(r.Form, max)
}

func values(vs map[string][]string, max int) error {
	for key, list := range vs {
		if err := fulfill.CheckText(FieldName(key), key, 0); err != nil {
			return err
		}
		for _, v := range list {
			if err := fulfill.CheckText(key, v, max); err != nil {
				return err
			}
		}
	}
	return nil
}

// Wildcards are the names of the {wildcards} of a ServeMux pattern.
func Wildcards(pattern string) []string {
	var names []string
	for _, seg := range strings.Split(pattern, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(strings.TrimSuffix(name, "}"), "...")
			if name != "$" {
				names = append(names, name)
			}
		}
	}
	return names
}

// FieldName is a key fit to name a field in an error: bad bytes replaced.
func FieldName(key string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(key, "\uFFFD"), "\x00", "\uFFFD")
}

// JSON checks every string of a JSON body, object keys included, at any
// depth: valid UTF-8 (encoding/json would silently turn bad bytes into
// U+FFFD, so the raw bytes are checked) and no NUL (a \u0000 escape decodes
// to one). Fields are named as encoding/json names them ("a.b"). A body
// that is not JSON is left to the decoder, unless it holds bytes no text
// may hold.
func JSON(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	// Most bodies are plainly fine: valid UTF-8 bytes, none of them NUL,
	// and no \u0000 escape, so no string in them can fail. Walking their
	// tokens was an eighth of a seat link's CPU.
	if utf8.Valid(body) && bytes.IndexByte(body, 0) < 0 && !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	w := &walker{dec: json.NewDecoder(bytes.NewReader(body)), body: body}
	err := w.value("")
	if fe, ok := errors.AsType[*fulfill.Error](err); ok {
		return fe
	}
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
		return fulfill.Errorf(fulfill.EInvalidJSON, "The body is not valid UTF-8 text, or holds a NUL byte.")
	}
	return nil
}

// walker reads a JSON document token by token, knowing the raw bytes of
// each token.
type walker struct {
	dec  *json.Decoder
	body []byte
	last int64
}

func (w *walker) token() (json.Token, []byte, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, nil, err
	}
	off := w.dec.InputOffset()
	raw := w.body[w.last:off]
	w.last = off
	return tok, raw, nil
}

// value checks one JSON value named field ("" for the body itself).
func (w *walker) value(field string) error {
	tok, raw, err := w.token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case string:
		return checkString(field, t, raw)
	case json.Delim:
		for w.dec.More() {
			name := field
			if t == '{' {
				k, raw, err := w.token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				name = JoinField(field, FieldName(key))
				if err := checkString(name, key, raw); err != nil {
					return err
				}
			}
			if err := w.value(name); err != nil {
				return err
			}
		}
		_, _, err := w.token() // the closing delimiter
		return err
	}
	return nil
}

// checkString checks a decoded JSON string s, whose raw bytes are raw.
func checkString(field, s string, raw []byte) error {
	if !utf8.Valid(raw) {
		s = string(raw) // what the client sent, not the U+FFFD encoding/json made of it
	}
	label := field
	if label == "" {
		label = "The body"
	}
	err := fulfill.CheckText(label, s, 0)
	if fe, ok := errors.AsType[*fulfill.Error](err); ok {
		fe.Field = field
	}
	return err
}

// JoinField names key inside parent, as encoding/json does ("a.b").
func JoinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

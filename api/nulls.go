package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/internal/edgecheck"
)

// checkNulls refuses a JSON null for anything that cannot hold one: encoding/json
// leaves such a field at its zero value, so {"seats": null} would read as 0.
// Pointers, slices, maps and interfaces may be null (a pointer field that
// is null is absent). t is the type decoded into; body is valid JSON for it.
func checkNulls(body []byte, t reflect.Type) error {
	if !bytes.Contains(body, []byte("null")) {
		return nil // no null token: nothing to refuse
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return nullWalk(dec, t, "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func nullWalk(dec *json.Decoder, t reflect.Type, field string) error {
	tok, err := dec.Token()
	if err != nil {
		return nil // decode has read this body already: nothing to add
	}
	if tok == nil {
		if t == nil || nullable(t) {
			return nil
		}
		if field == "" {
			return fulfill.Errorf(fulfill.EInvalidJSON, "The body must be a JSON object, not null.")
		}
		return fulfill.FieldError(fulfill.EInvalidType, field, "%s must not be null.", field)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil // decodes itself (json.RawMessage, dates): whatever it holds is its own business
	}
	for dec.More() {
		var child reflect.Type
		name := field
		if d == '{' {
			k, err := dec.Token()
			if err != nil {
				return nil
			}
			key, _ := k.(string)
			name, child = edgecheck.JoinField(field, key), memberType(t, key)
		} else if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			child = t.Elem()
		}
		if err := nullWalk(dec, child, name); err != nil {
			return err
		}
	}
	dec.Token() // the closing delimiter
	return nil
}

func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

// memberType is the type that the member key of a JSON object decodes into,
// nil when unknown.
func memberType(t reflect.Type, key string) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		fields := map[string]reflect.Type{}
		structFields(t, fields)
		if ft, ok := fields[key]; ok {
			return ft
		}
		for name, ft := range fields { // encoding/json matches names case-insensitively too
			if strings.EqualFold(name, key) {
				return ft
			}
		}
	}
	return nil
}

// structFields collects the JSON names of t's fields, then those of its
// embedded structs that are not hidden by a shallower field.
func structFields(t reflect.Type, into map[string]reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if ft := f.Type; f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = f.Type
	}
	for _, et := range embedded {
		inner := map[string]reflect.Type{}
		structFields(et, inner)
		for name, ft := range inner {
			if _, hidden := into[name]; !hidden {
				into[name] = ft
			}
		}
	}
}

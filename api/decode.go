package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/grantd/grantd/datasource"
)

// decodeStrict decodes the JSON object b into dst (a pointer to struct)
// the way the API wants: field names matched exactly, unknown fields and
// wrong types rejected, and every problem named, not just the first.
// Fields listed in ignore are accepted and skipped (the read-only fields
// of a GET, so a GET–edit–PUT round trip works).
//
// It returns a *Problem: malformed-json for bytes that are not one JSON
// object, invalid-input with the list of fields otherwise.
func decodeStrict(b []byte, dst any, ignore ...string) error {
	errs, err := decodeFields(b, dst, ignore...)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		p := probInvalid.with("the body has fields of the wrong type or unknown fields")
		p.Errors = errs
		return p
	}
	return nil
}

// decodeFields is decodeStrict that returns the field problems instead of
// a problem, so a caller can add its own validation's and answer once.
func decodeFields(b []byte, dst any, ignore ...string) ([]datasource.FieldError, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, probMalformed.with("the body is empty; expected a JSON object")
	}
	if !utf8.Valid(b) {
		return nil, probMalformed.with("the body is not valid UTF-8")
	}
	if !json.Valid(b) {
		var x any
		err := json.Unmarshal(b, &x)
		return nil, probMalformed.with("the body is not valid JSON: " + strings.TrimPrefix(fmt.Sprint(err), "json: "))
	}
	if b[0] != '{' {
		return nil, probMalformed.with("the body must be a JSON object")
	}
	var errs []datasource.FieldError
	decodeValue(b, reflect.ValueOf(dst).Elem(), "", ignore, &errs)
	return errs, nil
}

var (
	secretType = reflect.TypeOf(datasource.Secret{})
	rawType    = reflect.TypeOf(json.RawMessage{})
)

func decodeValue(b []byte, v reflect.Value, path string, ignore []string, errs *[]datasource.FieldError) {
	add := func(msg string) {
		field := path
		if field == "" {
			field = "(body)"
		}
		*errs = append(*errs, datasource.FieldError{Field: field, Message: msg})
	}
	if v.Kind() == reflect.Struct && v.Type() != secretType && v.Type().Name() != "Time" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
			add("must be an object")
			return
		}
		fields := fieldsByName(v.Type())
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := k
			if name == "" {
				name = `""`
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			idx, ok := fields[k]
			if !ok {
				if slices.Contains(ignore, p) {
					continue
				}
				*errs = append(*errs, datasource.FieldError{Field: p, Message: "is not a known field"})
				continue
			}
			decodeValue(obj[k], v.FieldByIndex(idx), p, ignore, errs)
		}
		return
	}
	if v.Kind() == reflect.Pointer && string(b) == "null" {
		v.SetZero()
		return
	}
	target := v.Addr().Interface()
	if v.Type() == rawType {
		v.SetBytes(bytes.Clone(b))
		return
	}
	if err := json.Unmarshal(b, target); err != nil {
		add(typeMessage(v.Type()))
	}
}

func typeMessage(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == secretType || t.Kind() == reflect.String:
		return "must be a string"
	case t.Kind() == reflect.Bool:
		return "must be true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "must be a number (an integer)"
	case t.Kind() == reflect.Map:
		return "must be an object of string values"
	case t.Name() == "Time":
		return "must be an RFC 3339 time"
	}
	return "has the wrong type"
}

// fieldsByName maps JSON names to field indexes, following embedded
// structs as encoding/json does.
func fieldsByName(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(slices.Clone(prefix), i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := out[name]; !dup {
				out[name] = idx
			}
		}
	}
	walk(t, nil)
	return out
}

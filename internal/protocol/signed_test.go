package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestSignedObjectExactKeys(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"id":"alice","ID":"bob"}`, ErrAmbiguousKey},
		{`{"Id":"bob"}`, ErrAmbiguousKey},
		{`{"id":"a","id":"b"}`, ErrAmbiguousKey},
		{`{"x":1,"x":2}`, ErrAmbiguousKey}, // repeated unknown keys too
		{`{"id":"a"} {}`, ErrMalformedJSON},
		{`["id"]`, ErrMalformedJSON},
		{`{"id":`, ErrMalformedJSON},
		{`{"id":"alice","name":"Alice","nested":{"ID":1,"id":2}}`, nil}, // only the top level is signed identity
	} {
		_, err := SignedObject([]byte(tc.in), "id", "user_info")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.in, err, tc.want)
		}
	}
	obj, err := SignedObject([]byte(` {"id":"alice","user_info":{"a":[1,2]}} `), "id", "user_info")
	if err != nil || string(obj["id"]) != `"alice"` || string(obj["user_info"]) != `{"a":[1,2]}` {
		t.Fatalf("%v %v", obj, err)
	}
}

// FuzzSignedObject: never panics, and whatever it accepts a strict
// reader would read the same way: no key twice, no case variant of a
// known key, and every value is valid JSON.
func FuzzSignedObject(f *testing.F) {
	for _, s := range []string{`{"user_id":"1","user_info":{}}`, `{"id":"a","ID":"b"}`, `{"a":1,"a":1}`, `{}`, `{"\u0069d":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		obj, err := SignedObject(b, "user_id", "id")
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || len(m) != len(obj) {
			t.Fatalf("accepted %q but it reads as %d keys, not %d", b, len(m), len(obj))
		}
		for k, v := range obj {
			if !json.Valid(v) {
				t.Fatalf("value of %q invalid", k)
			}
		}
	})
}

package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// ErrAmbiguousKey refuses a signed object that a backend and pushi could
// read differently: a repeated key, or a key that equals a known one but
// for case. Go's encoding/json matches keys case-insensitively and lets
// the last one win, so signed {"id":"alice","ID":"bob"} would sign in as
// bob while the backend's JSON.parse, which signed it, reads alice.
var ErrAmbiguousKey = errors.New("signed JSON object has a repeated key or a key differing from a known one only in case")

// SignedObject splits a signed JSON object into its top-level members by
// exact key. Values stay raw. Any key repeated, or matching one of known
// case-insensitively without being equal to it, is ErrAmbiguousKey;
// other unknown keys are kept (extra keys are allowed).
func SignedObject(b []byte, known ...string) (map[string]json.RawMessage, error) {
	if !json.Valid(b) { // one value, nothing after it
		return nil, ErrMalformedJSON
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, ErrMalformedJSON
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, ErrMalformedJSON
		}
		key := t.(string) // inside an object, a token here is always a key
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, ErrMalformedJSON
		}
		if _, dup := out[key]; dup {
			return nil, ErrAmbiguousKey
		}
		for _, k := range known {
			if key != k && strings.EqualFold(key, k) {
				return nil, ErrAmbiguousKey
			}
		}
		out[key] = v
	}
	return out, nil
}

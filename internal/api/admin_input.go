package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pushi-io/pushi/internal/apps"
)

// decodeStrict decodes a JSON object into v, which may hold current values
// (a PATCH merges into them: objects key by key, arrays replaced). Unknown
// fields, nulls outside nullable, wrong types and trailing data are 400s.
func decodeStrict(body []byte, v any, nullable ...string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, "Request body is empty: send a JSON object")
	}
	var generic any
	if err := json.Unmarshal(body, &generic); err != nil {
		return errorf(http.StatusBadRequest, "Malformed JSON body: "+err.Error())
	}
	obj, ok := generic.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "Request body must be a JSON object")
	}
	// encoding/json skips a null silently; here it would erase a setting
	// without saying so, so only the fields shown as null accept it.
	for k, val := range obj {
		if val == nil && slices.Contains(nullable, k) {
			continue
		}
		if err := rejectNulls(val, k); err != nil {
			return err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errorf(http.StatusBadRequest, fmt.Sprintf("Field %q has the wrong type (want %s)", typeErr.Field, typeErr.Type))
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errorf(http.StatusBadRequest, "Unknown field "+name)
		}
		return errorf(http.StatusBadRequest, "Invalid JSON body: "+err.Error())
	}
	return nil
}

func rejectNulls(v any, path string) error {
	switch v := v.(type) {
	case nil:
		return errorf(http.StatusBadRequest, fmt.Sprintf("Field %q cannot be null", path))
	case map[string]any:
		for k, val := range v {
			if err := rejectNulls(val, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, val := range v {
			if err := rejectNulls(val, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkName applies docs/features.md §2.1: name required (uniqueness is checked
// against the other apps by the caller and the store).
func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errorf(http.StatusBadRequest, "Field \"name\" is required")
	case len(name) > 200 || !utf8.ValidString(name):
		return errorf(http.StatusBadRequest, "Field \"name\" must be valid UTF-8 of at most 200 bytes")
	}
	return nil
}

// settleVAPID resolves web_push keys after a decode over the previous
// values (empty on create): a new private key brings its public key; the
// public key alone cannot be set, and the pair cannot be removed.
func settleVAPID(p *apps.WebPush, prevPrivate, prevPublic string) error {
	if p.VAPIDPrivateKey != prevPrivate {
		given := p.VAPIDPublicKey
		if err := p.SetVAPID(p.VAPIDPrivateKey); err != nil {
			return errorf(http.StatusBadRequest, "Field \"web_push.vapid_private_key\" "+err.Error()+" (base64url, 32 bytes)")
		}
		if given != prevPublic && given != p.VAPIDPublicKey {
			return errorf(http.StatusBadRequest, "Field \"web_push.vapid_public_key\" does not belong to web_push.vapid_private_key; leave it out, it is derived")
		}
		return nil
	}
	if p.VAPIDPublicKey != prevPublic {
		return errorf(http.StatusBadRequest, "Field \"web_push.vapid_public_key\" is derived from the private key: set web_push.vapid_private_key or POST /apps/{app_id}/web_push/vapid")
	}
	if p.VAPIDPrivateKey == "" {
		var err error
		if p.VAPIDPrivateKey, p.VAPIDPublicKey, err = apps.GenerateVAPID(); err != nil {
			return err
		}
	}
	return nil
}

// validationErr turns an apps.Validate error into a 400.
func validationErr(err error) error {
	return errorf(http.StatusBadRequest, "Invalid app: "+err.Error())
}

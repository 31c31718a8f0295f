package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Frame is one decoded client → server message (docs/protocol.md §2).
type Frame struct {
	Event      string
	Channel    string
	HasChannel bool
	// Data is the raw JSON value of "data" as received; nil when absent.
	Data json.RawMessage
}

var (
	ErrMalformedJSON = errors.New("invalid JSON")
	ErrMissingEvent  = errors.New("missing or non-string \"event\"")
	ErrMissingData   = errors.New("missing \"data\"")
	ErrDataType      = errors.New("\"data\" must be an object or a JSON string")
)

type rawFrame struct {
	Event   *string         `json:"event"`
	Channel *string         `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// DecodeFrame parses one text message. Any type mismatch is reported as an
// error; the caller answers it with pusher:error code null and carries on.
func DecodeFrame(b []byte) (Frame, error) {
	var r rawFrame
	if err := json.Unmarshal(b, &r); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Frame{}, errors.New("field \"" + typeErr.Field + "\" has the wrong type")
		}
		return Frame{}, ErrMalformedJSON
	}
	if r.Event == nil || *r.Event == "" {
		return Frame{}, ErrMissingEvent
	}
	f := Frame{Event: *r.Event}
	if r.Channel != nil {
		f.Channel, f.HasChannel = *r.Channel, true
	}
	if len(r.Data) > 0 && !bytes.Equal(r.Data, []byte("null")) {
		f.Data = r.Data
	}
	return f, nil
}

// DecodeData unmarshals data that arrives either as an object or as a string
// holding JSON (the string is parsed once).
func DecodeData(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return ErrMissingData
	}
	switch data[0] {
	case '{':
		return json.Unmarshal(data, v)
	case '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		return json.Unmarshal([]byte(s), v)
	}
	return ErrDataType
}

// DataText returns the string forwarded to subscribers for user data: a JSON
// string is forwarded as its content, byte for byte; any other JSON value as
// its compact text.
func DataText(data json.RawMessage) (string, error) {
	if len(data) == 0 {
		return "", ErrMissingData
	}
	if data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

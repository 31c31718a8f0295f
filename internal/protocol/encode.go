package protocol

import (
	"strconv"
	"unicode/utf8"
)

// Event is an outgoing channel event. Data is sent as a JSON string
// (double encoding, docs/protocol.md §2), forwarded byte for byte.
type Event struct {
	Name    string
	Channel string
	Data    string
	// UserID is the raw JSON of the sender's user id (client events on
	// presence and peer channels); nil when absent.
	UserID []byte
	// Extra is a raw JSON fragment of further top-level members starting
	// with a comma, e.g. `,"seq":18` (pushi persistence); nil when absent.
	Extra []byte
}

// AppendEvent appends the JSON encoding of e to dst.
func AppendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendString(dst, e.Name)
	if e.Channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = AppendString(dst, e.Channel)
	}
	dst = append(dst, `,"data":`...)
	dst = AppendString(dst, e.Data)
	if len(e.UserID) > 0 {
		dst = append(dst, `,"user_id":`...)
		dst = append(dst, e.UserID...)
	}
	dst = append(dst, e.Extra...)
	return append(dst, '}')
}

// EncodeEvent is AppendEvent into a fresh, exactly sized buffer.
func EncodeEvent(e *Event) []byte {
	n := 32 + len(e.Name) + len(e.Channel) + len(e.Data) + len(e.Data)/8 + len(e.UserID) + len(e.Extra)
	return AppendEvent(make([]byte, 0, n), e)
}

// EncodeError builds a pusher:error frame; its data is an object, not a string.
// code 0 is sent as null (protocol errors without a code).
func EncodeError(code int, message string) []byte {
	dst := make([]byte, 0, 64+len(message))
	dst = append(dst, `{"event":"pusher:error","data":{"code":`...)
	if code == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, int64(code), 10)
	}
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, message)
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Unlike encoding/json it does not
// escape <, > and &; invalid UTF-8 becomes U+FFFD and U+2028/U+2029 are
// escaped so the output is also valid JavaScript.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

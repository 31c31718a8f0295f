// Package signature verifies Pusher HTTP API request signatures
// (docs/protocol.md §14.1).
package signature

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
)

// Param is one decoded query parameter; repeated keys are joined with ",".
type Param struct{ Key, Value string }

// ParseQuery splits a raw query on '&' only (pusher-http-go sends values
// unescaped, and ';' is data), lower-cases keys, decodes %XX where valid
// (keeping invalid sequences literally) and '+' as space, and joins repeated
// keys with ',' in arrival order. The result keeps first-arrival order.
func ParseQuery(raw string) []Param {
	var out []Param
	index := map[string]int{}
	// Repeats are joined once at the end: appending to Value on each
	// repeat copied the whole value every time, quadratic in the repeats,
	// and this runs before the signature is checked (1 MiB of "a&" cost
	// about 45 s of CPU; joined once, 91 ms).
	var repeats map[int][]string
	eachPair(raw, func(sentKey, k, rawValue string) bool {
		v := Unescape(rawValue)
		if i, ok := index[k]; ok {
			if repeats == nil {
				repeats = map[int][]string{}
			}
			if repeats[i] == nil {
				repeats[i] = []string{out[i].Value}
			}
			repeats[i] = append(repeats[i], v)
			return true
		}
		index[k] = len(out)
		out = append(out, Param{k, v})
		return true
	})
	for i, vs := range repeats {
		out[i].Value = strings.Join(vs, ",")
	}
	return out
}

// Get returns the value of key in params.
func Get(params []Param, key string) (string, bool) {
	for _, p := range params {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

// Unescape decodes %XX sequences that are valid and '+' as space; invalid
// sequences are kept as they are.
func Unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// StringToSign builds METHOD\nPATH\nQUERY with every parameter but
// auth_signature, sorted by key in byte order.
func StringToSign(method, path string, params []Param) string {
	kept := make([]Param, 0, len(params))
	for _, p := range params {
		if p.Key != "auth_signature" {
			kept = append(kept, p)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Key < kept[j].Key })
	var sb strings.Builder
	sb.WriteString(strings.ToUpper(method))
	sb.WriteByte('\n')
	sb.WriteString(path)
	sb.WriteByte('\n')
	for i, p := range kept {
		if i > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString(p.Key)
		sb.WriteByte('=')
		sb.WriteString(p.Value)
	}
	return sb.String()
}

// Request is what a verification needs from an HTTP request.
type Request struct {
	Method string
	// Paths are the candidate paths (decoded and as sent), already stripped
	// of any mount prefix; a signature over either is accepted.
	Paths    []string
	RawQuery string
	Body     []byte
}

// Window is how far auth_timestamp may be from the server clock.
const Window = 600 * time.Second

var (
	ErrKey       = errors.New("auth_key does not match the app")
	ErrTimestamp = errors.New("auth_timestamp missing or outside the 600 s window")
	ErrBodyMD5   = errors.New("body_md5 missing or does not match the body")
	ErrSignature = errors.New("invalid auth_signature")
	ErrVersion   = errors.New("auth_version must be 1.0")
)

// Verify checks a request against an app's key and valid secrets, in the
// order of docs/protocol.md §14.1 (after the app lookup).
func Verify(r Request, key string, secrets []string, now time.Time) error {
	params := ParseQuery(r.RawQuery)
	if err := VerifyQuery(params, r.Method, r.Paths, key, secrets, now, len(r.Body) > 0); err != nil {
		return err
	}
	return VerifyBody(params, r.Body)
}

// VerifyQuery checks everything the request line carries: key, timestamp
// window, version, body_md5 present when hasBody, and the HMAC. The HMAC
// covers body_md5, so once it verifies only the body's MD5 is left
// (VerifyBody), and a server can refuse an unauthenticated request before
// reading its body.
func VerifyQuery(params []Param, method string, paths []string, key string, secrets []string, now time.Time, hasBody bool) error {
	if k, _ := Get(params, "auth_key"); k != key {
		return ErrKey
	}
	ts, _ := Get(params, "auth_timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return ErrTimestamp
	}
	if v, ok := Get(params, "auth_version"); ok && v != "1.0" {
		return ErrVersion
	}
	if md5, ok := Get(params, "body_md5"); hasBody && (!ok || md5 == "") {
		return ErrBodyMD5
	}
	sig, _ := Get(params, "auth_signature")
	for _, p := range paths {
		if protocol.VerifySignature(sig, StringToSign(method, p, params), secrets) {
			return nil
		}
	}
	return ErrSignature
}

// VerifyBody checks a body against the body_md5 of params, recomputed
// from the bytes received; an empty body needs none.
func VerifyBody(params []Param, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	sum := md5.Sum(body)
	got, _ := Get(params, "body_md5")
	if !strings.EqualFold(got, hex.EncodeToString(sum[:])) {
		return ErrBodyMD5
	}
	return nil
}

// KeyError reports a query key sent in a form that ParseQuery folds into
// another: a repeat, or a spelling other than the canonical one.
type KeyError struct {
	Key       string // as sent
	Canonical string // lower case, unescaped
	Repeated  bool
}

func (e *KeyError) Error() string {
	if e.Repeated {
		return fmt.Sprintf("query parameter %q is given more than once", e.Canonical)
	}
	return fmt.Sprintf("query parameter %q must be sent as %q (lower case, not escaped)", e.Key, e.Canonical)
}

// CheckKeys returns a *KeyError for the first key of raw whose canonical
// name is one of keys and that is repeated or not spelled canonically.
// ParseQuery lower-cases, unescapes and joins keys before signing, so
// "LIMIT=", "li%6Dit=" and "limit=" all verify as the same signed
// parameter: refusing the variants keeps a signed request from being
// reshaped (within its timestamp window) into one that reads differently.
func CheckKeys(raw string, keys func(canonical string) bool) error {
	var seen []string // few: only the keys asked about
	var bad error
	eachPair(raw, func(k, c, _ string) bool {
		switch {
		case !keys(c):
		case k != c:
			bad = &KeyError{Key: k, Canonical: c}
		case slices.Contains(seen, c):
			bad = &KeyError{Key: k, Canonical: c, Repeated: true}
		default:
			seen = append(seen, c)
		}
		return bad == nil
	})
	return bad
}

// eachPair walks a raw query the way the signature reads it: split on
// '&' only, empty parts skipped, keys canonical (lower case, unescaped).
// f gets the key as sent, its canonical form and the raw value, and stops
// the walk by returning false.
func eachPair(raw string, f func(sentKey, key, rawValue string) bool) {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if !f(k, strings.ToLower(Unescape(k)), v) {
			return
		}
	}
}

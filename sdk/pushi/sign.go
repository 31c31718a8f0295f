package pushi

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// hmacHex is the one primitive behind every Pusher signature.
func hmacHex(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

func md5Hex(body []byte) string {
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

// sortedKeys lower-cases the keys, as the server does before sorting.
func sortedKeys(params map[string]string) ([]string, map[string]string) {
	lower := make(map[string]string, len(params))
	keys := make([]string, 0, len(params))
	for k, v := range params {
		lk := strings.ToLower(k)
		lower[lk] = v
		keys = append(keys, lk)
	}
	sort.Strings(keys)
	return keys, lower
}

// stringToSign builds METHOD\nPATH\nQUERY (§14.1) from decoded values: the
// server decodes the query before rebuilding this string, so escaping here
// would make signatures fail for any value that needs it.
func stringToSign(method, path string, params map[string]string) string {
	keys, lower := sortedKeys(params)
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(lower[k])
	}
	return b.String()
}

// encodeQuery is the escaped form of the same parameters, in signing order.
func encodeQuery(params map[string]string) string {
	keys, lower := sortedKeys(params)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(lower[k]))
	}
	return b.String()
}

// signRequest adds the auth_* and body_md5 parameters and returns the query
// string to send, auth_signature last.
func signRequest(key, secret, method, path string, params map[string]string, body []byte, timestamp string) string {
	all := make(map[string]string, len(params)+5)
	for k, v := range params {
		all[k] = v
	}
	all["auth_key"] = key
	all["auth_timestamp"] = timestamp
	all["auth_version"] = "1.0"
	if len(body) > 0 {
		all["body_md5"] = md5Hex(body)
	}
	sig := hmacHex(secret, stringToSign(method, path, all))
	return encodeQuery(all) + "&auth_signature=" + sig
}

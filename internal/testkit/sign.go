package testkit

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/signature"
)

// AuthParams are the parameters a Pusher client adds to an HTTP API
// request (docs/protocol.md §14.1): auth_key, auth_timestamp (at),
// auth_version and, for a non-empty body, body_md5.
func AuthParams(key string, at time.Time, body []byte) url.Values {
	q := url.Values{"auth_key": {key}, "auth_timestamp": {strconv.FormatInt(at.Unix(), 10)}, "auth_version": {"1.0"}}
	if len(body) > 0 {
		sum := md5.Sum(body)
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	return q
}

// Signature is auth_signature for a request whose query is rawQuery (in
// any order, case or escaping; an auth_signature in it is left out), as
// the server reads it. Tests that send a query in a form url.Values does
// not produce sign it with this.
func Signature(secret, method, path, rawQuery string) string {
	return protocol.Sign(secret, signature.StringToSign(method, path, signature.ParseQuery(rawQuery)))
}

// SignedQuery is a copy of query with the auth parameters for body at at
// (they replace any of the same name), signed with key and secret for
// method and path.
func SignedQuery(method, path, key, secret string, query url.Values, body []byte, at time.Time) url.Values {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	for k, v := range AuthParams(key, at, body) {
		q[k] = v
	}
	q.Set("auth_signature", Signature(secret, method, path, q.Encode()))
	return q
}

// SignedTarget is path?query, signed as SignedQuery with the time now:
// the request target of a signed API call.
func SignedTarget(method, path, key, secret string, query url.Values, body []byte) string {
	return path + "?" + SignedQuery(method, path, key, secret, query, body, time.Now()).Encode()
}

package api

import (
	"net/http"

	"github.com/pushi-io/pushi/internal/signature"
)

// query is a request's query as signature.ParseQuery reads it: keys
// lower-cased and unescaped, repeats joined. It is the form the signature
// covers, so handlers read their parameters only through it; net/url's
// parser keeps keys as sent and would see "LIMIT=" as a parameter the
// handler does not read, while the signature reads it as limit.
type query []signature.Param

func (q query) get(key string) string {
	v, _ := signature.Get(q, key)
	return v
}

func (q query) lookup(key string) (string, bool) { return signature.Get(q, key) }

// queryKeys are the keys whose spelling must be canonical and that may
// appear once (signature.CheckKeys): the authentication parameters and
// every parameter a handler reads. Other keys are signed but never read.
var queryKeys = map[string]bool{
	"auth_key": true, "auth_timestamp": true, "auth_version": true, "auth_signature": true, "body_md5": true,
	"limit": true, "cursor": true, "before": true, "after": true, "user_id": true, "event": true, "channel": true,
	"info": true, "filter_by_prefix": true, "name": true, "socket_id": true, "gc": true,
}

// checkQueryKeys refuses a repeated or non-canonical key of queryKeys
// with a 400 naming it.
func checkQueryKeys(r *http.Request) *httpError {
	if err := signature.CheckKeys(r.URL.RawQuery, func(k string) bool { return queryKeys[k] }); err != nil {
		return errorf(http.StatusBadRequest, "Bad query: "+err.Error())
	}
	return nil
}

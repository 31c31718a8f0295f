package pushi

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials of the docs/protocol.md §16 test vectors.
const (
	vecAppID  = "3"
	vecKey    = "278d425bdf160c739803"
	vecSecret = "7ad3773142a6692b25b8"
	vecTime   = 1353088179
)

// recorded is one request as the fake server saw it.
type recorded struct {
	Method   string
	Path     string            // decoded path, mount prefix stripped
	RawPath  string            // escaped path as sent
	RawQuery string            // query as sent
	Query    map[string]string // decoded, keys lower-cased
	Body     []byte
	Header   http.Header
}

// fakeServer is a stand-in for pushi's HTTP API. It re-implements request
// verification (§14.1) from the spec rather than reusing the package's
// signing code, so a bug there cannot hide itself.
type fakeServer struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string // mount prefix stripped before verifying
	status int
	body   string
	// handler, when set, replaces the canned status/body answer.
	handler func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []recorded
}

func newFakeServer(t *testing.T, status int, body string) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, status: status, body: body}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a client for the vector credentials pointed at the fake.
func (f *fakeServer) client(opts ...Option) *Client {
	opts = append([]Option{WithBaseURL(f.srv.URL + f.prefix)}, opts...)
	return New(vecAppID, vecKey, vecSecret, opts...)
}

func (f *fakeServer) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// only returns the single request the test expects to have been made.
func (f *fakeServer) only() recorded {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		f.t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{
		Method:   r.Method,
		Path:     strings.TrimPrefix(r.URL.Path, f.prefix),
		RawPath:  r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery,
		Query:    parseRawQuery(r.URL.RawQuery),
		Body:     body,
		Header:   r.Header.Clone(),
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()

	if msg := verifySigned(rec, f.prefix, r.URL.Path); msg != "" {
		f.t.Errorf("request %s %s rejected: %s", r.Method, r.URL, msg)
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"`+msg+`","code":401}`)
		return
	}
	if f.handler != nil {
		f.handler(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	io.WriteString(w, f.body)
}

// parseRawQuery follows §14.1: split on '&' only, decode each part, lower-case
// keys, join repeated keys with ','.
func parseRawQuery(raw string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		k = strings.ToLower(k)
		if old, ok := out[k]; ok {
			v = old + "," + v
		}
		out[k] = v
	}
	return out
}

// verifySigned returns "" if the request passes §14.1, else the reason.
func verifySigned(rec recorded, prefix, fullPath string) string {
	q := rec.Query
	if !strings.HasPrefix(fullPath, prefix) {
		return "path lacks mount prefix"
	}
	if q["auth_key"] != vecKey {
		return "auth_key"
	}
	if q["auth_version"] != "1.0" {
		return "auth_version"
	}
	ts, err := strconv.ParseInt(q["auth_timestamp"], 10, 64)
	if err != nil {
		return "auth_timestamp not an integer"
	}
	if ts != vecTime { // pinned clocks use the vector time; others must be fresh
		if d := time.Now().Unix() - ts; d > 600 || d < -600 {
			return "auth_timestamp outside the 600 s window"
		}
	}
	md5v, hasMD5 := q["body_md5"]
	if len(rec.Body) > 0 {
		sum := md5.Sum(rec.Body)
		if !hasMD5 || !strings.EqualFold(md5v, hex.EncodeToString(sum[:])) {
			return "body_md5"
		}
	} else if hasMD5 {
		return "body_md5 on an empty body"
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "auth_signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + q[k]
	}
	toSign := rec.Method + "\n" + rec.Path + "\n" + strings.Join(pairs, "&")
	m := hmac.New(sha256.New, []byte(vecSecret))
	m.Write([]byte(toSign))
	if !hmac.Equal([]byte(strings.ToLower(q["auth_signature"])), []byte(hex.EncodeToString(m.Sum(nil)))) {
		return "auth_signature mismatch over " + strconv.Quote(toSign)
	}
	return ""
}

// pinClock makes the client sign with the §16 timestamp.
func pinClock(c *Client) *Client {
	c.now = func() time.Time { return time.Unix(vecTime, 0) }
	return c
}

// Package api serves the Pusher HTTP API (docs/protocol.md §14) and, later, the
// pushi routes on the REST listener.
package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/hub"
	"github.com/pushi-io/pushi/internal/ratelimit"
	"github.com/pushi-io/pushi/internal/signature"
	"github.com/pushi-io/pushi/internal/store"
)

// MaxBody is the largest accepted request body (docs/protocol.md §14: 1 MiB).
const MaxBody = 1 << 20

// Options configure the API.
type Options struct {
	PathPrefix string // mount prefix stripped before /apps/…
	Version    string
	Logger     *slog.Logger
	Now        func() time.Time
	// Store, AppWriter and an admin token enable app management
	// (admin.go); with no token every admin request is refused. The
	// token is given as is (AdminToken) or as its SHA-256
	// (AdminTokenSHA256, when AdminToken is empty; the zero array is
	// none), which is all the server keeps of a generated one.
	Store            store.Store
	StoreName        string // "sqlite" or "mongodb", shown by /health/detailed
	AdminToken       string
	AdminTokenSHA256 [32]byte
	// AppWriter, with Store, serves the app management routes; nil
	// leaves the registry read-only through the API. It must write to the
	// registry given to New (the server passes the same *apps.Writable).
	AppWriter AppWriter
	// Metrics, when set, gets the HTTP metrics and is served at /metrics.
	Metrics *prometheus.Registry
	// BodyTimeout bounds the reading of a request body, from the moment
	// its headers are in (0 = unbounded).
	BodyTimeout time.Duration
	// Admit, when set, decides whether the connection of r may use the
	// API (the server's cap on HTTP connections); refused requests get a
	// 503 and their connection is closed.
	Admit func(r *http.Request) bool
}

// API is the REST listener's handler.
type API struct {
	opts     Options
	apps     apps.Registry
	node     *hub.Node
	mux      *http.ServeMux
	limiters sync.Map // app id → *ratelimit.Bucket (max_backend_events_per_s)
	admin    admin
	metrics  *httpMetrics // nil without Options.Metrics
	started  time.Time
}

// New builds the API and its routes.
func New(opts Options, registry apps.Registry, node *hub.Node) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &API{opts: opts, apps: registry, node: node, mux: http.NewServeMux(), started: time.Now()}
	a.routes()
	return a
}

func (a *API) routes() {
	a.mux.HandleFunc("/health", a.health)
	a.mux.HandleFunc("/health/live", a.health)
	a.mux.HandleFunc("/health/ready", a.ready)
	// Behind the admin token even without a store; with no token, refused.
	a.mux.Handle("/health/detailed", a.adminOnly(map[string]bodyHandler{http.MethodGet: a.detailed}))
	a.mux.Handle("/apps/{app_id}/events", a.signed(methods{http.MethodPost: a.triggerEvents}))
	a.mux.Handle("/apps/{app_id}/batch_events", a.signed(methods{http.MethodPost: a.triggerBatch}))
	a.mux.Handle("/apps/{app_id}/channels", a.signed(methods{http.MethodGet: a.listChannels}))
	a.mux.Handle("/apps/{app_id}/channels/{channel}", a.signed(methods{http.MethodGet: a.getChannel}))
	a.mux.Handle("/apps/{app_id}/channels/{channel}/users", a.signed(methods{http.MethodGet: a.channelUsers}))
	a.mux.Handle("/apps/{app_id}/channels/{channel}/events", a.signed(methods{http.MethodPost: a.triggerLegacy, http.MethodGet: a.channelHistory}))
	a.mux.Handle("/apps/{app_id}/users/{user_id}/events", a.signed(methods{http.MethodGet: a.userInbox}))
	a.mux.Handle("/apps/{app_id}/users/{user_id}/terminate_connections", a.signed(methods{http.MethodPost: a.terminate}))
	a.followRoutes()
	a.adminRoutes()
	a.metricsRoutes()
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Unknown route "+r.URL.Path)
	})
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.opts.Admit != nil && !a.opts.Admit(r) {
		CloseAfterReply(w) // not admitted, so it must not stay open idle either
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "Too many HTTP connections to this node: retry later")
		return
	}
	if r.ContentLength != 0 {
		w, r = a.guardBody(w, r)
	}
	if p := a.opts.PathPrefix; p != "" {
		if !strings.HasPrefix(r.URL.Path, p) {
			writeError(w, http.StatusNotFound, "Unknown route "+r.URL.Path)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = strings.TrimPrefix(r.URL.Path, p)
		u.RawPath = strings.TrimPrefix(r.URL.RawPath, p)
		r2.URL = &u
		r = r2
	}
	w.Header().Set("Content-Type", "application/json")
	a.serveMux(w, r)
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": a.opts.Version})
}

// methods maps HTTP methods to handlers so a wrong method gets a JSON 405.
type methods map[string]appHandler

type appHandler func(w http.ResponseWriter, r *http.Request, app *apps.App, q query, body []byte)

// httpError carries a status to writeError.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, msg string) *httpError { return &httpError{status, msg} }

// signed resolves the app and verifies the request signature before any
// handler runs (docs/protocol.md §14.1). Everything the request line carries,
// the HMAC included, is checked before the body is read, so only a
// client holding the secret makes the server read and hold a body; then
// the body's MD5 is checked against the signed body_md5.
func (a *API) signed(m methods) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := m[r.Method]
		if !ok {
			allowed := make([]string, 0, len(m))
			for k := range m {
				allowed = append(allowed, k)
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed")
			return
		}
		app := a.apps.ByID(r.PathValue("app_id"))
		if app == nil {
			writeError(w, http.StatusNotFound, "Unknown app")
			return
		}
		params := signature.ParseQuery(r.URL.RawQuery)
		now := a.opts.Now()
		if err := signature.VerifyQuery(params, r.Method, a.signedPaths(r), app.Key, app.Secrets(now), now, r.ContentLength > 0); err != nil {
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if err := checkQueryKeys(r); err != nil {
			writeErr(w, err)
			return
		}
		if !app.Enabled {
			writeError(w, http.StatusForbidden, "App is disabled")
			return
		}
		body, err := a.readBody(w, r)
		if err != nil {
			writeErr(w, err)
			return
		}
		if err := signature.VerifyBody(params, body); err != nil {
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		h(w, r, app, query(params), body)
	})
}

// signedPaths returns the decoded path and the path as sent, both without
// the mount prefix.
func (a *API) signedPaths(r *http.Request) []string {
	sent := r.RequestURI
	if i := strings.IndexByte(sent, '?'); i >= 0 {
		sent = sent[:i]
	}
	sent = strings.TrimPrefix(sent, a.opts.PathPrefix)
	if sent == r.URL.Path || sent == "" {
		return []string{r.URL.Path}
	}
	return []string{r.URL.Path, sent}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "code": status})
}

func writeErr(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// allow takes n backend-event tokens of the app's bucket; it returns how
// long to wait when refused.
func (a *API) allow(app *apps.App, n int) (bool, time.Duration) {
	rate := app.Limits.MaxBackendEventsPerS
	if rate <= 0 {
		return true, 0
	}
	v, _ := a.limiters.LoadOrStore(app.ID, new(ratelimit.Bucket))
	return v.(*ratelimit.Bucket).Take(n, rate, a.opts.Now())
}

func retryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
	writeError(w, http.StatusTooManyRequests, "Backend event rate limit exceeded")
}

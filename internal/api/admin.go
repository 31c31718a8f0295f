package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/signature"
	"github.com/pushi-io/pushi/internal/store"
)

// AppWriter is the write side of the registry, which app management
// needs (apps.Writable). Options.AppWriter must change the very registry
// given to New, or managed apps would be stored but never served.
type AppWriter interface {
	Put(apps.App) error
	Delete(id string) bool
	All() []*apps.App // every app, for the unique-name check
}

// admin is the app management state (docs/features.md §2.2).
type admin struct {
	mu       sync.Mutex // serialises read-modify-write of apps
	hasToken bool
	token    [32]byte // SHA-256 of the token: equal lengths for the constant-time compare
	store    store.Store
	reg      AppWriter
}

// bodyHandler serves a route whose auth is done and body read.
type bodyHandler func(w http.ResponseWriter, r *http.Request, q query, body []byte)

// adminRoutes registers the management API. Without a store or an
// AppWriter there is nothing to manage, so only the public VAPID route is
// served; without a token every admin request is refused, never open.
func (a *API) adminRoutes() {
	switch {
	case a.opts.AdminToken != "":
		a.admin.hasToken, a.admin.token = true, sha256.Sum256([]byte(a.opts.AdminToken))
	case a.opts.AdminTokenSHA256 != [32]byte{}:
		a.admin.hasToken, a.admin.token = true, a.opts.AdminTokenSHA256
	}
	a.mux.Handle("/apps/{app_id}/vapid_key", a.onlyMethods(map[string]bodyHandler{http.MethodGet: a.vapidKey}))
	if a.opts.Store == nil || a.opts.AppWriter == nil {
		return
	}
	a.admin.store, a.admin.reg = a.opts.Store, a.opts.AppWriter
	a.mux.Handle("/apps", a.adminOnly(map[string]bodyHandler{http.MethodGet: a.listApps, http.MethodPost: a.createApp}))
	a.mux.Handle("/apps/{app_id}", a.adminOnly(map[string]bodyHandler{http.MethodGet: a.getApp, http.MethodPatch: a.patchApp, http.MethodDelete: a.deleteApp}))
	a.mux.Handle("/apps/{app_id}/secret", a.guarded(map[string]bodyHandler{http.MethodPost: a.rotateSecret}, a.adminOrSigned))
	a.mux.Handle("/apps/{app_id}/web_push/vapid", a.adminOnly(map[string]bodyHandler{http.MethodPost: a.setVAPID}))
}

// onlyMethods dispatches on the method (JSON 405 otherwise) and reads the
// bounded body of a POST, PUT or PATCH.
func (a *API) onlyMethods(m map[string]bodyHandler) http.Handler { return a.guarded(m, nil) }

// adminOnly is onlyMethods behind the admin token, checked before the
// body is read.
func (a *API) adminOnly(m map[string]bodyHandler) http.Handler {
	return a.guarded(m, func(r *http.Request, _ []signature.Param) (bool, *httpError) { return false, a.checkAdmin(r) })
}

// authFunc authenticates a request from its headers and query alone,
// before the body is read; signed reports a request signature, whose
// body_md5 is then checked against the body.
type authFunc func(r *http.Request, params []signature.Param) (signed bool, err *httpError)

func (a *API) guarded(m map[string]bodyHandler, auth authFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := m[r.Method]
		if !ok {
			allowed := make([]string, 0, len(m))
			for k := range m {
				allowed = append(allowed, k)
			}
			slices.Sort(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed")
			return
		}
		params := signature.ParseQuery(r.URL.RawQuery)
		signed := false
		if auth != nil {
			var err *httpError
			if signed, err = auth(r, params); err != nil {
				if err.status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="pushi"`)
				}
				writeErr(w, err)
				return
			}
		}
		if err := checkQueryKeys(r); err != nil {
			writeErr(w, err)
			return
		}
		var body []byte
		if takesBody(r.Method) {
			var err error
			if body, err = a.readBody(w, r); err != nil {
				writeErr(w, err)
				return
			}
		}
		if signed {
			if err := signature.VerifyBody(params, body); err != nil {
				writeError(w, http.StatusUnauthorized, err.Error())
				return
			}
		}
		h(w, r, query(params), body)
	})
}

// takesBody reports the methods whose body a handler reads; the others
// never make the server read one (bodyGuard closes the connection
// instead).
func takesBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// checkAdmin verifies Authorization: Bearer <token> in constant time.
func (a *API) checkAdmin(r *http.Request) *httpError {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return errorf(http.StatusUnauthorized, "Missing admin token: send Authorization: Bearer <PUSHI_ADMIN_TOKEN>")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], a.admin.token[:]) != 1 || !a.admin.hasToken {
		return errorf(http.StatusUnauthorized, "Invalid admin token")
	}
	return nil
}

// writeCtx outlives the client: once a store write starts, the registry
// must follow it even if the caller hangs up.
func writeCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
}

// storeErr maps store errors to statuses (docs/features.md §2.2).
func (a *API) storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "Unknown app")
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "An app with this id, key or name already exists")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "The store is unavailable, try again")
	}
	a.opts.Logger.Error("app store failed", "err", err)
	return errorf(http.StatusInternalServerError, "Internal store error")
}

// loadApp reads an app for a change; apps from the config are read-only.
func (a *API) loadApp(ctx context.Context, id string) (apps.App, error) {
	sa, err := a.admin.store.App(ctx, id)
	if err != nil {
		return apps.App{}, a.storeErr(err)
	}
	if sa.FromConfig {
		return apps.App{}, errorf(http.StatusForbidden, "App "+id+" is declared in the server configuration (PUSHI_APPS_FILE or PUSHI_APP_*) and is read-only through the API; change it there")
	}
	return sa.Registered(), nil
}

// saveApp writes an API-managed app, then publishes it to the registry.
func (a *API) saveApp(r *http.Request, app apps.App) error {
	ctx, cancel := writeCtx(r)
	defer cancel()
	if err := a.admin.store.PutApp(ctx, store.NewStoredApp(app, false)); err != nil {
		return a.storeErr(err)
	}
	if err := a.admin.reg.Put(app); err != nil {
		// Validated before the write, so only a registry bug lands here.
		a.opts.Logger.Error("registry refused a stored app", "app", app.ID, "err", err)
		return errorf(http.StatusInternalServerError, "App stored but not registered: "+err.Error())
	}
	return nil
}

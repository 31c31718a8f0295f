package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/store"
)

// Apps are shown with their current secret on every route: the API is
// admin-only, and dashboards (Pusher's, soketi's) show an app's secret.
func appBody(a *apps.App) map[string]any { return map[string]any{"app": a.View()} }

// createApp is POST /apps: name required; id, key and secret may be given
// (migrations) and are generated otherwise.
func (a *API) createApp(w http.ResponseWriter, r *http.Request, _ query, body []byte) {
	next := apps.Defaults()
	if err := decodeStrict(body, &next, "apn", "smtp_url"); err != nil {
		writeErr(w, err)
		return
	}
	if err := checkName(next.Name); err != nil {
		writeErr(w, err)
		return
	}
	if err := settleVAPID(&next.WebPush, "", ""); err != nil {
		writeErr(w, err)
		return
	}
	a.admin.mu.Lock()
	defer a.admin.mu.Unlock()
	if next.ID == "" {
		next.ID = apps.GenerateID()
		for a.apps.ByID(next.ID) != nil {
			next.ID = apps.GenerateID()
		}
	}
	if next.Key == "" {
		next.Key = apps.GenerateKey()
	}
	if next.Secret == "" {
		next.Secret = apps.GenerateSecret()
	}
	if err := next.Validate(); err != nil {
		writeErr(w, validationErr(err))
		return
	}
	if err := a.checkUnique(&next, true); err != nil {
		writeErr(w, err)
		return
	}
	ctx, cancel := writeCtx(r)
	defer cancel()
	if err := a.admin.store.CreateApp(ctx, store.NewStoredApp(next, false)); err != nil {
		writeErr(w, a.storeErr(err))
		return
	}
	if err := a.admin.reg.Put(next); err != nil {
		// Validated and checked above, so only a registry bug lands here;
		// undo the write so nothing is half-created.
		a.opts.Logger.Error("registry refused a new app", "app", next.ID, "err", err)
		a.admin.store.DeleteApp(ctx, next.ID)
		writeError(w, http.StatusInternalServerError, "App could not be registered: "+err.Error())
		return
	}
	a.opts.Logger.Info("app created", "app", next.ID, "name", next.Name)
	writeJSON(w, http.StatusCreated, appBody(&next))
}

// checkUnique gives a precise 409 before the store's own check.
func (a *API) checkUnique(next *apps.App, isNew bool) error {
	if isNew && a.apps.ByID(next.ID) != nil {
		return errorf(http.StatusConflict, "An app with id "+next.ID+" already exists")
	}
	if other := a.apps.ByKey(next.Key); isNew && other != nil {
		return errorf(http.StatusConflict, "App key "+next.Key+" is already in use")
	}
	for _, other := range a.admin.reg.All() {
		if other.ID != next.ID && other.Name == next.Name {
			return errorf(http.StatusConflict, "An app named "+strconv.Quote(next.Name)+" already exists")
		}
	}
	return nil
}

// listApps is GET /apps?limit=&cursor=, ordered by id; the cursor is
// opaque (the last id listed).
func (a *API) listApps(w http.ResponseWriter, r *http.Request, q query, _ []byte) {
	limit := 100
	if s := q.get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be an integer from 1 to 1000")
			return
		}
		limit = n
	}
	var after string
	if c := q.get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(raw) == 0 {
			writeError(w, http.StatusBadRequest, "cursor is invalid: pass the previous page's next")
			return
		}
		after = string(raw)
	}
	page, err := a.admin.store.ListApps(r.Context(), after, limit)
	if err != nil {
		writeErr(w, a.storeErr(err))
		return
	}
	var next any // null on the last page
	if len(page) == limit {
		// Probe rather than ask for limit+1: stores cap pages at 1000.
		last := page[limit-1].App.ID
		more, err := a.admin.store.ListApps(r.Context(), last, 1)
		if err != nil {
			writeErr(w, a.storeErr(err))
			return
		}
		if len(more) > 0 {
			next = base64.RawURLEncoding.EncodeToString([]byte(last))
		}
	}
	out := make([]apps.View, len(page))
	for i := range page {
		app := page[i].Registered()
		out[i] = app.View()
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out, "next": next})
}

// getApp is GET /apps/{app_id}.
func (a *API) getApp(w http.ResponseWriter, r *http.Request, _ query, _ []byte) {
	sa, err := a.admin.store.App(r.Context(), r.PathValue("app_id"))
	if err != nil {
		writeErr(w, a.storeErr(err))
		return
	}
	app := sa.Registered()
	writeJSON(w, http.StatusOK, appBody(&app))
}

// patchApp is PATCH /apps/{app_id}: the body is merged into the app
// (objects key by key, arrays replaced); id, key and secret are fixed.
func (a *API) patchApp(w http.ResponseWriter, r *http.Request, _ query, body []byte) {
	a.admin.mu.Lock()
	defer a.admin.mu.Unlock()
	cur, err := a.loadApp(r.Context(), r.PathValue("app_id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	next, err := mergeApp(&cur, body)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := a.checkUnique(&next, false); err != nil {
		writeErr(w, err)
		return
	}
	if err := a.saveApp(r, next); err != nil {
		writeErr(w, err)
		return
	}
	if cur.Enabled && !next.Enabled {
		a.node.CloseApp(next.ID, protocol.CodeAppDisabled, "App is disabled")
	}
	a.opts.Logger.Info("app updated", "app", next.ID)
	writeJSON(w, http.StatusOK, appBody(&next))
}

// mergeApp applies a PATCH body to a deep copy of cur and validates it.
func mergeApp(cur *apps.App, body []byte) (apps.App, error) {
	// The storage form round trip deep-copies: decoding into cur's slices
	// and pointers would change the app readers hold.
	raw, err := json.Marshal(cur)
	if err != nil {
		return apps.App{}, err
	}
	var next apps.App
	if err := json.Unmarshal(raw, &next); err != nil {
		return apps.App{}, err
	}
	if err := decodeStrict(body, &next, "apn", "smtp_url"); err != nil {
		return apps.App{}, err
	}
	next.PreviousSecret, next.PreviousValidUntil = cur.PreviousSecret, cur.PreviousValidUntil
	switch {
	case next.ID != cur.ID:
		return apps.App{}, errorf(http.StatusBadRequest, "Field \"id\" is immutable")
	case next.Key != cur.Key:
		return apps.App{}, errorf(http.StatusBadRequest, "Field \"key\" is immutable")
	case next.Secret != cur.Secret:
		return apps.App{}, errorf(http.StatusBadRequest, "Field \"secret\" cannot be set: rotate it with POST /apps/{app_id}/secret")
	}
	if err := checkName(next.Name); err != nil {
		return apps.App{}, err
	}
	if err := settleVAPID(&next.WebPush, cur.WebPush.VAPIDPrivateKey, cur.WebPush.VAPIDPublicKey); err != nil {
		return apps.App{}, err
	}
	if err := next.Validate(); err != nil {
		return apps.App{}, validationErr(err)
	}
	return next, nil
}

// deleteApp is DELETE /apps/{app_id}: the store removes the app's data,
// then its sockets are closed with 4001.
func (a *API) deleteApp(w http.ResponseWriter, r *http.Request, _ query, _ []byte) {
	a.admin.mu.Lock()
	defer a.admin.mu.Unlock()
	id := r.PathValue("app_id")
	if _, err := a.loadApp(r.Context(), id); err != nil {
		writeErr(w, err)
		return
	}
	ctx, cancel := writeCtx(r)
	defer cancel()
	if err := a.admin.store.DeleteApp(ctx, id); err != nil {
		writeErr(w, a.storeErr(err))
		return
	}
	a.admin.reg.Delete(id)
	a.limiters.Delete(id)
	a.node.CloseApp(id, protocol.CodeUnknownApp, "App was deleted")
	a.opts.Logger.Info("app deleted", "app", id)
	writeJSON(w, http.StatusOK, map[string]any{})
}

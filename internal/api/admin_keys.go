package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/signature"
)

const (
	defaultGraceS = 86400
	maxGraceS     = 30 * 86400 // a longer overlap defeats rotating
)

// rotateSecret is POST /apps/{app_id}/secret (docs/features.md §2.3), with the
// admin token or the app's request signature (adminOrSigned, run by
// guarded before the body is read). The previous secret stays valid for
// grace_s; rotating again replaces it, ending its grace at once.
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, _ query, body []byte) {
	req := struct {
		GraceS *int `json:"grace_s"`
	}{}
	if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			writeErr(w, err)
			return
		}
	}
	grace := defaultGraceS
	if req.GraceS != nil {
		grace = *req.GraceS
	}
	if grace < 0 || grace > maxGraceS {
		writeError(w, http.StatusBadRequest, "grace_s must be from 0 to "+strconv.Itoa(maxGraceS)+" seconds")
		return
	}
	a.admin.mu.Lock()
	defer a.admin.mu.Unlock()
	next, err := a.loadApp(r.Context(), r.PathValue("app_id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	next.PreviousSecret = next.Secret
	next.PreviousValidUntil = a.opts.Now().Add(time.Duration(grace) * time.Second).Truncate(time.Second)
	next.Secret = apps.GenerateSecret()
	if err := a.saveApp(r, next); err != nil {
		writeErr(w, err)
		return
	}
	a.opts.Logger.Info("app secret rotated", "app", next.ID, "grace_s", grace)
	writeJSON(w, http.StatusOK, map[string]any{"secret": next.Secret, "previous_valid_until": next.PreviousValidUntil.Unix()})
}

// adminOrSigned accepts the admin token or a request signed with the
// app's current secret, from the headers and query alone (guarded checks
// a signed request's body_md5 once the body is read). A previous secret
// does not count: it may be the leaked one being rotated away, and must
// not mint its successor.
func (a *API) adminOrSigned(r *http.Request, params []signature.Param) (bool, *httpError) {
	if r.Header.Get("Authorization") != "" {
		return false, a.checkAdmin(r)
	}
	app := a.apps.ByID(r.PathValue("app_id"))
	if app == nil {
		return false, errorf(http.StatusNotFound, "Unknown app")
	}
	if err := signature.VerifyQuery(params, r.Method, a.signedPaths(r), app.Key, []string{app.Secret}, a.opts.Now(), r.ContentLength > 0); err != nil {
		return false, errorf(http.StatusUnauthorized, err.Error()+" (send the admin token or sign with the app's current secret)")
	}
	if !app.Enabled {
		return false, errorf(http.StatusForbidden, "App is disabled")
	}
	return true, nil
}

// setVAPID is POST /apps/{app_id}/web_push/vapid: install the given
// private key, or a fresh pair.
func (a *API) setVAPID(w http.ResponseWriter, r *http.Request, _ query, body []byte) {
	req := struct {
		PrivateKey *string `json:"private_key"`
	}{}
	if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			writeErr(w, err)
			return
		}
	}
	var wp apps.WebPush
	if req.PrivateKey != nil {
		if err := wp.SetVAPID(*req.PrivateKey); err != nil {
			writeError(w, http.StatusBadRequest, "private_key "+err.Error()+" (base64url, 32 bytes)")
			return
		}
	} else {
		var err error
		if wp.VAPIDPrivateKey, wp.VAPIDPublicKey, err = apps.GenerateVAPID(); err != nil {
			writeErr(w, err)
			return
		}
	}
	a.admin.mu.Lock()
	defer a.admin.mu.Unlock()
	next, err := a.loadApp(r.Context(), r.PathValue("app_id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	next.WebPush.VAPIDPrivateKey, next.WebPush.VAPIDPublicKey = wp.VAPIDPrivateKey, wp.VAPIDPublicKey
	if err := a.saveApp(r, next); err != nil {
		writeErr(w, err)
		return
	}
	a.opts.Logger.Info("app VAPID key replaced", "app", next.ID)
	writeJSON(w, http.StatusOK, map[string]any{"vapid_public_key": wp.VAPIDPublicKey})
}

// vapidKey is GET /apps/{app_id}/vapid_key, public: browsers fetch it for
// applicationServerKey, so allowed_origins drives CORS here.
func (a *API) vapidKey(w http.ResponseWriter, r *http.Request, _ query, _ []byte) {
	app := a.apps.ByID(r.PathValue("app_id"))
	if app == nil {
		writeError(w, http.StatusNotFound, "Unknown app")
		return
	}
	if len(app.AllowedOrigins) == 0 {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	} else {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && app.OriginAllowed(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
	}
	if !app.Enabled {
		writeError(w, http.StatusForbidden, "App is disabled")
		return
	}
	if app.WebPush.VAPIDPublicKey == "" {
		writeError(w, http.StatusNotFound, "App has no VAPID key")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"vapid_public_key": app.WebPush.VAPIDPublicKey})
}

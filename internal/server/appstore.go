package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/config"
	"github.com/pushi-io/pushi/internal/store"
)

// adminTokenKey is the store meta key of the generated admin token.
const adminTokenKey = "admin_token"

// storedApps puts the config apps into the store (read-only through the
// API), creates the default app on a first start with no app anywhere, and
// returns the registry of every stored app, ready before listeners start.
func storedApps(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*apps.Static, *apps.App, error) {
	declared, err := configApps(cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := apps.NewStatic(declared); err != nil { // duplicates, invalid settings
		return nil, nil, err
	}
	existing, err := allStored(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	inConfig := map[string]bool{}
	for _, a := range declared {
		inConfig[a.ID] = true
		if err := storeConfigApp(ctx, cfg, st, log, existing, a); err != nil {
			return nil, nil, err
		}
	}
	// An app dropped from the config stops serving but keeps its data: it
	// becomes an API-managed, disabled app to re-enable or delete.
	for id, sa := range existing {
		if sa.FromConfig && !inConfig[id] {
			sa.FromConfig, sa.App.Enabled = false, false
			if err := st.PutApp(ctx, sa); err != nil {
				return nil, nil, fmt.Errorf("releasing app %s: %w", id, err)
			}
			existing[id] = sa
			log.Warn("app no longer in the config: disabled and now managed through the API (PATCH to re-enable, DELETE to remove)", "app_id", id)
		}
	}
	var generated *apps.App
	if len(existing) == 0 {
		a := apps.Generate("default")
		if err := st.CreateApp(ctx, store.NewStoredApp(a, false)); err != nil {
			return nil, nil, fmt.Errorf("storing the default app: %w", err)
		}
		existing[a.ID] = store.NewStoredApp(a, false)
		generated = &a
	}
	list := make([]apps.App, 0, len(existing))
	for id, sa := range existing {
		a := sa.Registered()
		if err := a.Validate(); err != nil {
			// One bad stored app must not keep every other app down.
			log.Error("stored app is invalid and not served; fix it with PATCH /apps/{app_id}", "app_id", id, "err", err)
			continue
		}
		list = append(list, a)
	}
	reg, err := apps.NewStatic(list)
	return reg, generated, err
}

// storeConfigApp writes one config app as read-only, adding what the
// config cannot give, and records it in existing.
func storeConfigApp(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger, existing map[string]store.StoredApp, a apps.App) error {
	prev, stored := existing[a.ID]
	if stored && !prev.FromConfig {
		log.Warn("config app replaces the API-managed app with its id; it is now read-only through the API", "app_id", a.ID)
	}
	if a.WebPush.VAPIDPrivateKey == "" {
		// Keep the VAPID pair across restarts: browsers' push
		// subscriptions are bound to it.
		a.WebPush.VAPIDPrivateKey, a.WebPush.VAPIDPublicKey = prev.App.WebPush.VAPIDPrivateKey, prev.App.WebPush.VAPIDPublicKey
		if a.WebPush.VAPIDPrivateKey == "" {
			var err error
			if a.WebPush.VAPIDPrivateKey, a.WebPush.VAPIDPublicKey, err = apps.GenerateVAPID(); err != nil {
				return err
			}
		}
	}
	if a.ID == cfg.AppID && nameTaken(existing, a) {
		// The PUSHI_APP_* app's name is not configurable; a first
		// start's generated "default" app may hold it.
		a.Name += "-" + a.ID
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if err := st.PutApp(ctx, store.NewStoredApp(a, true)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("config app %s: its key or name %q is used by another stored app; rename one of them", a.ID, a.Name)
		}
		return fmt.Errorf("storing config app %s: %w", a.ID, err)
	}
	existing[a.ID] = store.NewStoredApp(a, true)
	return nil
}

func nameTaken(existing map[string]store.StoredApp, a apps.App) bool {
	for id, sa := range existing {
		if id != a.ID && sa.App.Name == a.Name {
			return true
		}
	}
	return false
}

// configApps collects the apps file and the PUSHI_APP_* app.
func configApps(cfg *config.Config) ([]apps.App, error) {
	var list []apps.App
	if cfg.AppsFile != "" {
		fromFile, err := apps.LoadFile(cfg.AppsFile)
		if err != nil {
			return nil, err
		}
		list = append(list, fromFile...)
	}
	if cfg.AppKey != "" {
		a := apps.Defaults()
		a.ID, a.Key, a.Secret, a.Name = cfg.AppID, cfg.AppKey, cfg.AppSecret, "default"
		list = append(list, a)
	}
	return list, nil
}

func allStored(ctx context.Context, st store.Store) (map[string]store.StoredApp, error) {
	out := map[string]store.StoredApp{}
	after := ""
	for {
		page, err := st.ListApps(ctx, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("loading apps: %w", err)
		}
		for _, sa := range page {
			out[sa.App.ID] = sa
		}
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].App.ID
	}
}

// adminToken returns the configured token, or the stored one, generating
// and storing it on the first start; generated reports a new token.
func adminToken(ctx context.Context, cfg *config.Config, st store.Store) (token string, generated bool, err error) {
	if cfg.AdminToken != "" {
		return cfg.AdminToken, false, nil // never stored: the config stays the source
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	fresh := hex.EncodeToString(b)
	token, err = st.SetMetaIfAbsent(ctx, adminTokenKey, fresh)
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return token, token == fresh, nil
}

// logGenerated shows, once, what a first start generated, so a fresh
// install is usable at once. The text format is for a terminal and shows
// the secrets there; the JSON format is for log pipelines, which must
// never hold a secret, so they go to a 0600 file next to PUSHI_DB and the
// log names the file.
func logGenerated(log *slog.Logger, cfg *config.Config, app *apps.App, token string, newToken bool) error {
	public, secret := []any{}, map[string]string{}
	if app != nil {
		public = append(public, "app_id", app.ID, "key", app.Key)
		secret["app_id"], secret["key"], secret["secret"] = app.ID, app.Key, app.Secret
	}
	if newToken {
		secret["admin_token"] = token
	}
	if len(secret) == 0 {
		return nil
	}
	if cfg.LogFormat != "json" {
		attrs := public
		if app != nil {
			attrs = append(attrs, "secret", app.Secret)
		}
		if newToken {
			attrs = append(attrs, "admin_token", token)
		}
		log.Warn("generated credentials, shown this once: keep them (the store keeps them across restarts; PUSHI_ADMIN_TOKEN sets the admin token)", attrs...)
		return nil
	}
	path := filepath.Join(filepath.Dir(cfg.DBPath), credentialsFile)
	b, _ := json.MarshalIndent(secret, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the generated credentials to %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return err
	}
	log.Warn("generated credentials written to a file readable only by this user: read it, keep them, delete it (secrets never go to a JSON log)",
		append(public, "file", path)...)
	return nil
}

// credentialsFile receives generated secrets when logs are JSON.
const credentialsFile = "pushi-credentials.json"

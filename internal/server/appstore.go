package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/config"
	"github.com/pushi-io/pushi/internal/store"
)

// adminTokenKey is the store meta key of the generated admin token.
const adminTokenKey = "admin_token"

// storedApps puts the config apps into the store (read-only through the
// API), creates the default app on a first start with no app anywhere, and
// returns the registry of every stored app, ready before listeners start.
func storedApps(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*apps.Writable, *apps.App, error) {
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
	reg, err := apps.NewWritable(list)
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

// adminToken returns the SHA-256 that admin requests are checked
// against: of PUSHI_ADMIN_TOKEN (never stored: the config stays the
// source), else the stored one. The first start generates the token,
// stores its hash and returns the token as shown, to show once. SHA-256
// is enough because the token is 256 random bits: a slow KDF makes
// guessing a low-entropy password expensive, and 2^256 guesses stay out
// of reach however fast each is, so whoever reads the hash learns
// nothing usable.
func adminToken(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (sum [32]byte, shown string, err error) {
	if cfg.AdminToken != "" {
		// A stored token is unused while one is configured, but it is
		// still a secret at rest until hashed.
		v, ok, err := st.Meta(ctx, adminTokenKey)
		if err == nil && ok {
			_, err = storedTokenHash(ctx, st, log, v)
		}
		if err != nil {
			return sum, "", fmt.Errorf("admin token: %w", err)
		}
		return sha256.Sum256([]byte(cfg.AdminToken)), "", nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return sum, "", err
	}
	fresh := hex.EncodeToString(b)
	freshHash := sha256.Sum256([]byte(fresh))
	v, err := st.SetMetaIfAbsent(ctx, adminTokenKey, encodeTokenHash(freshHash))
	if err != nil {
		return sum, "", fmt.Errorf("admin token: %w", err)
	}
	if v == encodeTokenHash(freshHash) {
		return freshHash, fresh, nil
	}
	if sum, err = storedTokenHash(ctx, st, log, v); err != nil {
		return sum, "", fmt.Errorf("admin token: %w", err)
	}
	return sum, "", nil
}

// tokenHashPrefix marks a stored token hash; pushi before it stored the
// token itself under the same key.
const tokenHashPrefix = "sha256:"

func encodeTokenHash(sum [32]byte) string { return tokenHashPrefix + hex.EncodeToString(sum[:]) }

// storedTokenHash decodes the stored value v, first replacing a plaintext
// token an older pushi stored by its hash (the token keeps working).
func storedTokenHash(ctx context.Context, st store.Store, log *slog.Logger, v string) (sum [32]byte, err error) {
	if h, ok := strings.CutPrefix(v, tokenHashPrefix); ok {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != len(sum) {
			return sum, fmt.Errorf("the stored hash %q is not a hex SHA-256", v)
		}
		return [32]byte(b), nil
	}
	sum = sha256.Sum256([]byte(v))
	swapped, err := st.SwapMeta(ctx, adminTokenKey, v, encodeTokenHash(sum))
	if err != nil {
		return sum, fmt.Errorf("replacing the stored token by its hash: %w", err)
	}
	if swapped {
		log.Info("the stored admin token was replaced by its SHA-256 hash; the token itself still works")
		return sum, nil
	}
	// Another node swapped first: it can only have stored this hash.
	now, _, err := st.Meta(ctx, adminTokenKey)
	if err != nil {
		return sum, err
	}
	if now != encodeTokenHash(sum) {
		return sum, errors.New("the stored admin token changed while it was being hashed; restart")
	}
	return sum, nil
}

// logGenerated shows, once, what a first start generated, so a fresh
// install is usable at once. The text format is for a terminal and shows
// the secrets there; the JSON format is for log pipelines, which must
// never hold a secret, so they go to a 0600 file next to PUSHI_DB and the
// log names the file.
//
// token is the admin token generated at this start, "" if none was.
func logGenerated(log *slog.Logger, cfg *config.Config, app *apps.App, token string) error {
	newToken := token != ""
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
		log.Warn("generated credentials, shown this once: keep them (the store keeps the app across restarts, but of the admin token only a hash; PUSHI_ADMIN_TOKEN sets the admin token)", attrs...)
		return nil
	}
	path := filepath.Join(filepath.Dir(cfg.DBPath), credentialsFile)
	b, _ := json.MarshalIndent(secret, "", "  ")
	if err := writePrivate(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing the generated credentials to %s: %w", path, err)
	}
	log.Warn("generated credentials written to a file readable only by this user: read it, keep them, delete it (secrets never go to a JSON log; the store keeps only a hash of the admin token)",
		append(public, "file", path)...)
	return nil
}

// writePrivate writes b to path readable by its owner only. An existing
// file keeps its mode through O_TRUNC, so the mode is set before the
// secrets go in, not after.
func writePrivate(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

// credentialsFile receives generated secrets when logs are JSON.
const credentialsFile = "pushi-credentials.json"

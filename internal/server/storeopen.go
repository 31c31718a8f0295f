package server

import (
	"context"
	"fmt"
	"log/slog"
	neturl "net/url"
	"time"

	"github.com/pushi-io/pushi/internal/config"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/mongo"
	"github.com/pushi-io/pushi/internal/store/sqlite"
)

// openStore opens MongoDB when a Mongo URL is configured, else the
// embedded SQLite file. Start fails on an unreachable MongoDB rather
// than serving apps it cannot load.
func openStore(cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if url := cfg.MongoURL(); url != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		st, err := mongo.Open(ctx, url, cfg.MongoDB)
		if err != nil {
			return nil, fmt.Errorf("MongoDB store (%s): %w", redact(url), err)
		}
		return st, nil
	}
	st, err := sqlite.OpenWith(cfg.DBPath, sqlite.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("PUSHI_DB: %w", err)
	}
	return st, nil
}

// storeName names the backend openStore picks, for /health/detailed.
func storeName(cfg *config.Config) string {
	if cfg.MongoURL() != "" {
		return "mongodb"
	}
	return "sqlite"
}

// redact drops the password of a URL for messages and logs.
func redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

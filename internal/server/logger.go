package server

import (
	"io"
	"log/slog"

	"github.com/pushi-io/pushi/internal/config"
)

// NewLogger builds the process logger from LOG_LEVEL and LOG_FORMAT: text
// for a terminal, JSON (one object per line) for a log pipeline.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

package pushi

import (
	"errors"
	"fmt"
)

// Error is a request the server refused: a non-2xx HTTP status with the
// message from its {"error": ..., "code": ...} body.
type Error struct {
	Status  int    // HTTP status code
	Message string // the server's "error" text, or the raw body if not JSON
}

func (e *Error) Error() string {
	return fmt.Sprintf("pushi: HTTP %d: %s", e.Status, e.Message)
}

// ValidationError is input rejected before any request was sent, because the
// server would refuse it (400) or because a signature cannot be produced.
type ValidationError struct {
	Field  string // what was wrong, e.g. "channel", "socket_id"
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("pushi: invalid %s: %s", e.Field, e.Reason)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ErrInvalidWebhook is wrapped by every error VerifyWebhook returns, so that a
// handler can answer 401 with a single errors.Is check.
var ErrInvalidWebhook = errors.New("pushi: invalid webhook")

package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// The server has a header timeout only, so without a bound here a client
// could send most of a body and stall, holding a goroutine, the bytes read
// so far and Shutdown for as long as it liked. Each request with a body
// gets a read deadline when its handler starts (Options.BodyTimeout),
// lifted once the body has been read in full. A reply written before the
// body was read closes the connection: net/http would otherwise read up
// to 256 KiB of the unread body first, before or after replying, for as
// long as the client makes it wait.

// bodyGuard wraps the ResponseWriter of a request with a body.
type bodyGuard struct {
	http.ResponseWriter
	body  io.ReadCloser
	rc    *http.ResponseController
	eof   bool // the whole body has been read
	wrote bool
}

// guardBody sets r's body deadline and returns the writer and request to
// serve it with. Only the handler's goroutine touches the guard.
func (a *API) guardBody(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	g := &bodyGuard{ResponseWriter: w, body: r.Body, rc: http.NewResponseController(w)}
	if a.opts.BodyTimeout > 0 {
		// ErrNotSupported outside a real connection (a test recorder):
		// there is nothing to bound then.
		g.rc.SetReadDeadline(time.Now().Add(a.opts.BodyTimeout))
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Body = guardedBody{g}
	return g, r2
}

type guardedBody struct{ g *bodyGuard }

func (b guardedBody) Read(p []byte) (int, error) {
	n, err := b.g.body.Read(p)
	if err == io.EOF && !b.g.eof {
		b.g.eof = true
		// net/http now reads ahead on the connection in the background;
		// a deadline firing there would cancel the request's context
		// while the handler still works on it.
		b.g.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b guardedBody) Close() error { return b.g.body.Close() }

func (g *bodyGuard) WriteHeader(code int) {
	if !g.wrote && code >= 200 {
		g.wrote = true
		if !g.eof {
			closeAfterReply(g.ResponseWriter, g.rc)
		}
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *bodyGuard) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (g *bodyGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// CloseAfterReply makes the connection close once the reply is written,
// without reading what is left of the request body (see bodyGuard). For
// handlers outside the API that answer requests whose body they ignore.
func CloseAfterReply(w http.ResponseWriter) { closeAfterReply(w, http.NewResponseController(w)) }

func closeAfterReply(w http.ResponseWriter, rc *http.ResponseController) {
	w.Header().Set("Connection", "close")
	// A deadline in the past fails the read of the rest at once; the
	// reply is written all the same.
	rc.SetReadDeadline(time.Unix(1, 0))
}

// readBody reads the body up to MaxBody: 413 beyond it (from the
// Content-Length alone when it is announced), 408 when it did not arrive
// within the body timeout.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "Request body is over 1 MiB")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, errorf(http.StatusRequestEntityTooLarge, "Request body is over 1 MiB")
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, errorf(http.StatusRequestTimeout, "The request body did not arrive within "+a.opts.BodyTimeout.String()+" (PUSHI_HTTP_BODY_TIMEOUT)")
		}
		return nil, errorf(http.StatusBadRequest, "Could not read the request body")
	}
	return body, nil
}

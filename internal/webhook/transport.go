package webhook

import (
	"net"
	"net/http"
	"time"

	"github.com/pushi-io/pushi/internal/netguard"
)

// clients are the dispatcher's two HTTP clients. They differ only in the
// guard: an app that allows private targets uses open, every other app
// guarded. Two transports, not one with a per-request switch, so that a
// keep-alive connection made for one kind of app is never reused by the
// other.
type clients struct {
	guarded, open *http.Client
}

func newClients(opts *Options) clients {
	return clients{guarded: newClient(opts, true), open: newClient(opts, false)}
}

func (c clients) forApp(allowPrivate bool) *http.Client {
	if allowPrivate {
		return c.open
	}
	return c.guarded
}

func (c clients) closeIdle() {
	c.guarded.CloseIdleConnections()
	c.open.CloseIdleConnections()
}

func newClient(opts *Options, guard bool) *http.Client {
	dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	if guard {
		// At dial time, on the resolved address: covers names that
		// resolve, or are rebound, to an internal address.
		dialer = netguard.Dialer(*dialer)
	}
	t := &http.Transport{
		// No proxy from the environment (HTTP_PROXY, HTTPS_PROXY): the
		// guard checks the address dialled, which would be the proxy's,
		// and the proxy would then reach any internal URL for us.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.ConnectTimeout,
		ResponseHeaderTimeout: opts.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: t,
		Timeout:   opts.Timeout,
		// A redirect is not followed: a 3xx answer is a failed attempt.
		// Following it would re-send the signed body (a 307 keeps the
		// POST) to wherever the endpoint points, an internal URL included,
		// past the app's own choice of endpoint.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

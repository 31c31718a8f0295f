package hub

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/ratelimit"
)

// readBufferSize is the read buffer of a reader goroutine (TLS connections).
const readBufferSize = 4096

// ServeHTTP upgrades every WebSocket request, then validates it
// (docs/protocol.md §1.1): failures are reported after the upgrade as
// pusher:error plus a close frame with the same code, since pusher-js only
// acts on close codes.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if wait, limited := n.throttled(r); limited {
		n.metrics.connsThrottled.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"Too many connection attempts: retry after the Retry-After seconds","code":503}`))
		return
	}
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return // the upgrader has answered with a 4xx
	}
	app, code, msg := n.admit(r)
	if code != 0 {
		n.log.Info("connection refused", "remote", r.RemoteAddr, "path", clip(r.URL.Path, clipLong), "code", code, "reason", msg)
		rejectConn(nc, code, msg)
		return
	}
	var pending []byte // bytes the client sent right behind its handshake
	if k := rw.Reader.Buffered(); k > 0 {
		b, _ := rw.Reader.Peek(k)
		pending = append([]byte(nil), b...)
	}
	c := &Conn{node: n, app: app, socketID: n.ids.Next(), nc: nc, subs: map[string]*chanSub{}, openedAt: time.Now().UnixNano()}
	polled := n.poll.prepare(c)
	c.touch()
	c.startTimers() // before c is visible elsewhere: teardown may run from any goroutine
	n.metrics.connsAccepted.Add(1)
	n.conns.Store(c, struct{}{})
	q := r.URL.Query()
	n.log.Info("connection open", "app", app.ID, "socket_id", c.socketID, "remote", r.RemoteAddr,
		"protocol", clip(q.Get("protocol"), clipShort), "client", clip(q.Get("client"), clipShort), "version", clip(q.Get("version"), clipShort))
	c.send(textFrame(connectionEstablished(c.socketID, int(n.opts.ActivityTimeout/time.Second))))
	// The net/http goroutine that ran the upgrade ends here: its stack grew
	// through the request machinery. Measured per idle subscribed connection
	// at 5 000: reading on this goroutine 24.5 KB of server RSS, on a fresh
	// reader goroutine 12.6 KB, with the epoll poller (no goroutine, no
	// buffer while idle) see docs/decisions/0001-websocket-library.md.
	if len(pending) > 0 && !c.consume(pending) {
		c.teardown()
		return
	}
	if !polled {
		go c.readLoop(nil)
		return
	}
	if err := n.poll.arm(c); err != nil {
		n.log.Error("epoll registration failed", "err", err)
		c.teardown()
	}
}

// throttled applies the connection-rate limits before the upgrade, where
// refusing costs one small HTTP response instead of a WebSocket, a
// connection slot and a close handshake: the app's own limit, then the
// source address's share, then the node's.
func (n *Node) throttled(r *http.Request) (time.Duration, bool) {
	now := time.Now()
	if key, _ := n.appKey(r); key != "" {
		if app := n.apps.ByKey(key); app != nil && app.Limits.MaxConnectionRate > 0 {
			v, _ := n.appRates.LoadOrStore(app.ID, new(ratelimit.Bucket))
			if ok, wait := v.(*ratelimit.Bucket).Take(1, app.Limits.MaxConnectionRate, now); !ok {
				return wait, true
			}
		}
	}
	// The source's share first, so a refused flood does not drain the
	// node's bucket that other sources are admitted from.
	if rate := n.opts.MaxConnectionRatePerIP; rate > 0 {
		if ok, wait := n.sourceRates.Take(sourceKey(r, n.opts.TrustedProxies), 1, float64(rate), float64(rate), now); !ok {
			return wait, true
		}
	}
	ok, wait := n.connRate.Take(1, n.opts.MaxConnectionRate, now)
	return wait, !ok
}

// appKey takes the app key from /app/{key} (appForm) or the legacy
// /{key}; "" when the path has neither.
func (n *Node) appKey(r *http.Request) (key string, appForm bool) {
	path := r.URL.Path
	if n.opts.PathPrefix != "" {
		path = strings.TrimPrefix(path, n.opts.PathPrefix)
	}
	switch {
	case strings.HasPrefix(path, "/app/"):
		key, appForm = path[len("/app/"):], true
	case strings.HasPrefix(path, "/") && len(path) > 1:
		key = path[1:]
	}
	if strings.Contains(key, "/") {
		return "", appForm
	}
	return key, appForm
}

// admit runs the ordered checks of docs/protocol.md §1.1 and reserves a
// connection slot when they pass.
func (n *Node) admit(r *http.Request) (*apps.App, int, string) {
	key, appForm := n.appKey(r)
	if key == "" {
		return nil, protocol.CodeUnknownPath, "Unknown path: use /app/{key}"
	}
	q := r.URL.Query()
	proto, hasProto := q["protocol"]
	if !hasProto && appForm {
		return nil, protocol.CodeNoProtocol, "No protocol version supplied"
	}
	if hasProto {
		v, err := strconv.Atoi(proto[0])
		if err != nil || v < 5 || v > 7 {
			return nil, protocol.CodeBadProtocol, "Unsupported protocol version " + clip(proto[0], clipShort)
		}
	}
	app := n.apps.ByKey(key)
	if app == nil {
		return nil, protocol.CodeUnknownApp, "App key " + clip(key, clipShort) + " not in this cluster"
	}
	if !app.Enabled {
		return nil, protocol.CodeAppDisabled, "App is disabled"
	}
	if origin := r.Header.Get("Origin"); !app.OriginAllowed(origin) {
		return nil, protocol.CodeUnauthorized, "Origin not allowed"
	}
	perApp := n.appCounter(app.ID)
	if v := perApp.Add(1); app.MaxConnections > 0 && v > int64(app.MaxConnections) {
		perApp.Add(-1)
		return nil, protocol.CodeOverQuota, "App connection quota reached"
	}
	if n.draining.Load() {
		perApp.Add(-1)
		return nil, protocol.CodeReconnectNow, "Server is shutting down, reconnect"
	}
	if v := n.connCount.Add(1); n.opts.MaxConnections > 0 && v > int64(n.opts.MaxConnections) {
		n.connCount.Add(-1)
		perApp.Add(-1)
		return nil, protocol.CodeOverCapacity, "Server at capacity"
	}
	return app, 0, ""
}

// Client-chosen strings are clipped before they reach a log line or an
// error message: a 900 KB app key or client= value would otherwise cost
// a megabyte of log per refused attempt. A real key, version or client
// name fits in clipShort; a path in clipLong.
const (
	clipShort = 64
	clipLong  = 200
)

// clip bounds a client-chosen string to n bytes, cut on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// rejectConn writes pusher:error and a close frame straight to the socket,
// waits briefly for the peer's close, and closes.
func rejectConn(nc net.Conn, code int, msg string) {
	defer nc.Close()
	nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	bufs := net.Buffers{textFrame(protocol.EncodeError(code, msg)), closeFrame(code, msg)}
	if _, err := bufs.WriteTo(nc); err != nil {
		return
	}
	nc.SetReadDeadline(time.Now().Add(closeGrace))
	io.Copy(io.Discard, io.LimitReader(nc, 1<<16))
}

func connectionEstablished(socketID string, activityTimeout int) []byte {
	data := make([]byte, 0, 64)
	data = append(data, `{"socket_id":`...)
	data = protocol.AppendString(data, socketID)
	data = append(data, `,"activity_timeout":`...)
	data = strconv.AppendInt(data, int64(activityTimeout), 10)
	data = append(data, '}')
	return protocol.EncodeEvent(&protocol.Event{Name: "pusher:connection_established", Data: string(data)})
}

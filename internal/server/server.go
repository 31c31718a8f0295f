// Package server wires the configuration, apps, node and API into running
// listeners, and shuts them down.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pushi-io/pushi/internal/api"
	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/config"
	"github.com/pushi-io/pushi/internal/hub"
	"github.com/pushi-io/pushi/internal/protocol"
	"github.com/pushi-io/pushi/internal/state"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/webhook"
)

// Version is set at build time with -ldflags "-X …server.Version=…".
var Version = "dev"

// Server is a running pushi process.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	Apps     apps.Lister // read-only: only the admin API writes (api.Options.AppWriter)
	Node     *hub.Node
	API      *api.API
	Store    store.Store
	Hooks    *webhook.Dispatcher // protocol webhooks (docs/protocol.md §15)
	servers  []*http.Server
	addrs    map[string]net.Addr // "api", "ws" → bound address
	apiConns *httpConns          // PUSHI_MAX_HTTP_CONNECTIONS

	stopBackground context.CancelFunc // retention; set by Start
	background     sync.WaitGroup
}

// New builds a server from cfg without listening yet. Apps are loaded
// from the store first, so listeners never serve an unknown app.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	st, err := openStore(cfg, log)
	if err != nil {
		return nil, err
	}
	srv, err := build(cfg, log, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	return srv, nil
}

func build(cfg *config.Config, log *slog.Logger, st store.Store) (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	registry, generated, err := storedApps(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	tokenHash, newToken, err := adminToken(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	if err := logGenerated(log, cfg, generated, newToken); err != nil {
		return nil, err
	}
	opts := hub.DefaultOptions()
	opts.ActivityTimeout = cfg.ActivityTimeout
	opts.PongTimeout = cfg.PongTimeout
	opts.MaxMessageBytes = cfg.MaxMessageBytes
	opts.QueueBudget = cfg.QueueBytes
	opts.MaxConnections = cfg.MaxConnections
	opts.MaxConnectionRate = cfg.MaxConnRate
	opts.MaxConnectionRatePerIP = cfg.MaxConnRatePerIP
	opts.TrustedProxies = cfg.TrustedProxies
	opts.PathPrefix = cfg.PathPrefix
	opts.Logger = log
	opts.Store = st
	hookOpts := webhook.DefaultOptions()
	hookOpts.Version, hookOpts.Logger = Version, log
	hooks := webhook.New(hookOpts, registry)
	opts.Webhooks = webhookSink{hooks}
	node, err := hub.NewNode(opts, registry, state.NewMemory(), nil)
	if err != nil {
		hooks.Close(ctx)
		return nil, err
	}
	conns := newHTTPConns(cfg.MaxHTTPConnections)
	a := api.New(api.Options{PathPrefix: cfg.PathPrefix, Version: Version, Logger: log, Store: st, StoreName: storeName(cfg), AppWriter: registry,
		AdminTokenSHA256: tokenHash, Metrics: newRegistry(node, hooks, conns), BodyTimeout: cfg.HTTPBodyTimeout, Admit: conns.admit}, registry, node)
	return &Server{cfg: cfg, log: log, Apps: registry, Node: node, API: a, Store: st, Hooks: hooks, addrs: map[string]net.Addr{}, apiConns: conns}, nil
}

// isWebSocket reports a WebSocket upgrade request.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Start binds the listeners and serves in the background.
func (s *Server) Start() error {
	bg, stop := context.WithCancel(context.Background())
	s.stopBackground = stop
	s.background.Add(1)
	go func() { defer s.background.Done(); s.retain(bg, s.cfg.RetentionInterval) }()
	wsHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocket(r) {
			s.Node.ServeHTTP(w, r)
			return
		}
		if r.ContentLength != 0 {
			api.CloseAfterReply(w) // never wait for a body nobody reads
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUpgradeRequired)
		w.Write([]byte(`{"error":"WebSocket upgrade required: connect to /app/{key}?protocol=7","code":426}`))
	})
	if s.cfg.SharedListener() {
		both := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isWebSocket(r) {
				s.Node.ServeHTTP(w, r)
				return
			}
			s.API.ServeHTTP(w, r)
		})
		return s.listen("api+ws", s.cfg.API, both, true)
	}
	if err := s.listen("api", s.cfg.API, s.API, true); err != nil {
		return err
	}
	return s.listen("ws", s.cfg.WebSocket, wsHandler, false)
}

func (s *Server) listen(name string, l config.Listener, h http.Handler, servesAPI bool) error {
	ln, err := net.Listen("tcp", l.Addr())
	if err != nil {
		return fmt.Errorf("%s listener on %s: %w", name, l.Addr(), err)
	}
	if l.TLS {
		cert, err := tls.LoadX509KeyPair(l.CerFile, l.KeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("%s TLS: %w", name, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	// Bodies are bounded per request by the API (PUSHI_HTTP_BODY_TIMEOUT),
	// not by ReadTimeout, which would also cut WebSocket upgrades short.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	if servesAPI {
		s.apiConns.hook(srv)
	}
	s.servers = append(s.servers, srv)
	for _, part := range strings.Split(name, "+") {
		s.addrs[part] = ln.Addr()
	}
	s.log.Info("listening", "listener", name, "addr", ln.Addr().String(), "tls", l.TLS)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
	return nil
}

// Addr returns the bound address of "api" or "ws".
func (s *Server) Addr(name string) net.Addr { return s.addrs[name] }

// Shutdown drains the node: readiness goes 503 at once while the
// listeners stay open for the configured lame-duck time (a load balancer
// sees "not ready" rather than a refused connection, and takes the node
// out), then it stops accepting, closes connections with 4200 over window
// and waits for in-flight HTTP requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context, window time.Duration) error {
	again := s.Node.Draining() // a second Shutdown does not wait again
	s.Node.SetDraining(true)
	if s.cfg.LameDuck > 0 && !again {
		s.log.Info("lame duck: not ready, listeners open", "for", s.cfg.LameDuck.String())
		select {
		case <-time.After(s.cfg.LameDuck):
		case <-ctx.Done():
		}
	}
	if s.stopBackground != nil {
		s.stopBackground()
		s.background.Wait()
	}
	var errs []error
	for _, srv := range s.servers {
		// Shutdown does not track hijacked (WebSocket) connections. A
		// request body is bounded by PUSHI_HTTP_BODY_TIMEOUT, so this
		// returns once the slowest body and its handler are done; past
		// ctx, the connections left are closed rather than leaked.
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			srv.Close()
		}
	}
	s.Node.CloseAll(protocol.CodeReconnectNow, "Server is shutting down, reconnect", window)
	// A peer that never answers our close frame is dropped after the
	// close grace anyway, so waiting longer than that gains nothing.
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	s.Node.WaitClosed(waitCtx)
	cancel()
	s.Node.Close()
	// After the node: the last connections' channel_vacated and
	// member_removed are among what the dispatcher flushes.
	if err := s.Hooks.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("webhooks: %w", err))
	}
	if err := s.Store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// webhookSink hands the hub's webhook events to the dispatcher: the hub
// defines what it raises, the dispatcher how it is delivered.
type webhookSink struct{ d *webhook.Dispatcher }

func (w webhookSink) Emit(app *apps.App, ev hub.WebhookEvent) { w.d.Emit(app, webhook.Event(ev)) }

// Package config reads the server settings from the environment (the
// original pushi's names) and command-line flags, which win, and validates
// them with messages that name the setting.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/hub"
)

// Listener is one TCP listener with optional TLS.
type Listener struct {
	Host    string
	Port    int
	TLS     bool
	KeyFile string
	CerFile string
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Config is every server setting.
type Config struct {
	API       Listener // REST: Pusher HTTP API, pushi routes (APP_*)
	WebSocket Listener // WebSocket (SERVER_*)

	AppID, AppKey, AppSecret string // default app (PUSHI_APP_*)
	AppsFile                 string
	AdminToken               string // app management bearer token; "" = generated and stored
	DBPath                   string // embedded SQLite store file (PUSHI_DB)
	// MongoDB store (the original pushi's variables); MongoURL() picks one.
	MongoURLs         struct{ Mongo, MongoLab, MongoHQ string }
	MongoDB           string
	RetentionInterval time.Duration

	ActivityTimeout  time.Duration
	PongTimeout      time.Duration
	DrainWindow      time.Duration  // SIGTERM: WebSocket closes spread over this
	LameDuck         time.Duration  // SIGTERM: not ready, still serving, before the listeners close
	MaxConnRate      int            // connection attempts per second before the upgrade
	MaxConnRatePerIP int            // the share of one source address (IPv6: its /64)
	TrustedProxies   []netip.Prefix // peers whose X-Forwarded-For names the source
	MaxMessageBytes  int
	QueueBytes       int
	MaxConnections   int
	PathPrefix       string

	HTTPBodyTimeout    time.Duration // reading one HTTP API request body, from its headers on
	MaxHTTPConnections int           // connections using the HTTP API at once, 0 = unlimited

	LogLevel  string
	LogFormat string
}

// setting binds one environment variable and flag to a field.
type setting struct {
	env, flag, def, usage string
	set                   func(string) error
}

// Load reads the environment, then args (without the program name).
func Load(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	var errs []error
	settings := c.settings()
	fs := flag.NewFlagSet("pushi", flag.ContinueOnError)
	values := make([]*string, len(settings))
	for i, s := range settings {
		v := s.def
		if e := getenv(s.env); e != "" {
			v = e
		}
		values[i] = fs.String(s.flag, v, s.usage+" (env "+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for i, s := range settings {
		if err := s.set(strings.TrimSpace(*values[i])); err != nil {
			errs = append(errs, fmt.Errorf("%s (-%s): %w", s.env, s.flag, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, c.validate()
}

func (c *Config) settings() []setting {
	// The hub owns the connection defaults (hub.DefaultOptions, also what
	// a Node built without a config gets); the flags take theirs from it,
	// so the two cannot drift.
	hubDef := hub.DefaultOptions()
	return []setting{
		{"APP_HOST", "app-host", "127.0.0.1", "REST API listen host", str(&c.API.Host)},
		{"APP_PORT", "app-port", "8080", "REST API listen port", port(&c.API.Port)},
		{"APP_SSL", "app-ssl", "0", "serve the REST API over TLS", boolean(&c.API.TLS)},
		{"APP_SSL_KEY", "app-ssl-key", "", "PEM private key file for the REST API", str(&c.API.KeyFile)},
		{"APP_SSL_CER", "app-ssl-cer", "", "PEM certificate file for the REST API", str(&c.API.CerFile)},
		{"SERVER_HOST", "server-host", "127.0.0.1", "WebSocket listen host", str(&c.WebSocket.Host)},
		{"SERVER_PORT", "server-port", "9090", "WebSocket listen port", port(&c.WebSocket.Port)},
		{"SERVER_SSL", "server-ssl", "0", "serve WebSocket over TLS", boolean(&c.WebSocket.TLS)},
		{"SERVER_SSL_KEY", "server-ssl-key", "", "PEM private key file for WebSocket", str(&c.WebSocket.KeyFile)},
		{"SERVER_SSL_CER", "server-ssl-cer", "", "PEM certificate file for WebSocket", str(&c.WebSocket.CerFile)},
		{"PUSHI_APP_ID", "app-id", "", "default app id", str(&c.AppID)},
		{"PUSHI_APP_KEY", "app-key", "", "default app key", str(&c.AppKey)},
		{"PUSHI_APP_SECRET", "app-secret", "", "default app secret", str(&c.AppSecret)},
		{"PUSHI_APPS_FILE", "apps-file", "", "JSON file of apps and their settings", str(&c.AppsFile)},
		{"MONGO_URL", "mongo-url", "", "MongoDB store URL (mongodb://…); when set, the store is MongoDB instead of PUSHI_DB", mongoURL(&c.MongoURLs.Mongo)},
		{"MONGOLAB_URI", "mongolab-uri", "", "MongoDB store URL, used when MONGO_URL is unset", mongoURL(&c.MongoURLs.MongoLab)},
		{"MONGOHQ_URL", "mongohq-url", "", "MongoDB store URL, used when MONGO_URL and MONGOLAB_URI are unset", mongoURL(&c.MongoURLs.MongoHQ)},
		{"MONGO_DB", "mongo-db", "pushi", "MongoDB database name", mongoDBName(&c.MongoDB)},
		{"PUSHI_DB", "db", "./pushi.db", "file of the embedded SQLite store (created with its directory if missing)", dbFile(&c.DBPath)},
		{"PUSHI_RETENTION_INTERVAL", "retention-interval", "60", "seconds between trims of stored events and inboxes to each app's retention caps", seconds(&c.RetentionInterval)},
		{"PUSHI_ADMIN_TOKEN", "admin-token", "", "bearer token of the app management API; generated, stored and logged once when unset", adminToken(&c.AdminToken)},
		{"PUSHI_ACTIVITY_TIMEOUT", "activity-timeout", secondsString(hubDef.ActivityTimeout), "seconds of inbound silence before pusher:ping", seconds(&c.ActivityTimeout)},
		{"PUSHI_PONG_TIMEOUT", "pong-timeout", secondsString(hubDef.PongTimeout), "seconds to wait for a pong before closing 4201", seconds(&c.PongTimeout)},
		{"PUSHI_DRAIN_WINDOW", "drain-window", "5", "seconds over which SIGTERM/SIGINT spreads the 4200 closes of WebSocket clients, so they do not all reconnect at once", seconds(&c.DrainWindow)},
		{"PUSHI_LAME_DUCK", "lame-duck", "0", "seconds SIGTERM/SIGINT keeps the listeners open with /health/ready answering 503 (new WebSocket clients get 4200) before closing them, so a load balancer takes the node out first", nonNegativeSeconds(&c.LameDuck)},
		{"PUSHI_MAX_MESSAGE_BYTES", "max-message-bytes", strconv.Itoa(hubDef.MaxMessageBytes), "largest inbound WebSocket message (close 1009)", positive(&c.MaxMessageBytes)},
		{"PUSHI_QUEUE_BYTES", "queue-bytes", strconv.Itoa(hubDef.QueueBudget), "outbound bytes queued per connection before closing it as a slow consumer (4100)", positive(&c.QueueBytes)},
		{"PUSHI_MAX_CONNECTIONS", "max-connections", "0", "connections this node accepts, 0 = unlimited (4100)", nonNegative(&c.MaxConnections)},
		{"PUSHI_MAX_CONNECTION_RATE", "max-connection-rate", "1000", "WebSocket connection attempts per second this node takes (burst: one second's worth), checked before the upgrade; over it HTTP 503 with Retry-After; 0 = unlimited", nonNegative(&c.MaxConnRate)},
		{"PUSHI_MAX_CONNECTION_RATE_PER_IP", "max-connection-rate-per-ip", "500", "WebSocket connection attempts per second one source address may take (IPv6: one /64), so a flood from one address leaves the rest of the node's rate to others; 0 = no per-address limit", nonNegative(&c.MaxConnRatePerIP)},
		{"PUSHI_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated addresses or CIDRs of reverse proxies in front of pushi; for connections from them the source address is the last X-Forwarded-For entry that is not a trusted proxy", prefixes(&c.TrustedProxies)},
		{"PUSHI_HTTP_BODY_TIMEOUT", "http-body-timeout", "10", "seconds an HTTP API request may take to send its body once its headers are in (1 to 30); beyond it 408 and the connection is closed", bodyTimeout(&c.HTTPBodyTimeout)},
		{"PUSHI_MAX_HTTP_CONNECTIONS", "max-http-connections", "1024", "connections that may use the HTTP API at once (WebSocket connections never count); beyond it HTTP 503 and the connection is closed; 0 = unlimited", nonNegative(&c.MaxHTTPConnections)},
		{"PUSHI_PATH_PREFIX", "path-prefix", "", "mount prefix in front of /app/{key} and /apps/…, e.g. /pusher", str(&c.PathPrefix)},
		{"LOG_LEVEL", "log-level", "info", "debug, info, warn or error", oneOf(&c.LogLevel, "debug", "info", "warn", "error")},
		{"LOG_FORMAT", "log-format", "text", "text or json", oneOf(&c.LogFormat, "text", "json")},
	}
}

func (c *Config) validate() error {
	var errs []error
	for _, l := range []struct {
		prefix string
		l      Listener
	}{{"APP", c.API}, {"SERVER", c.WebSocket}} {
		if !l.l.TLS {
			continue
		}
		for _, f := range []struct{ name, path string }{{"_SSL_KEY", l.l.KeyFile}, {"_SSL_CER", l.l.CerFile}} {
			if f.path == "" {
				errs = append(errs, fmt.Errorf("%s%s: required when %s_SSL is on", l.prefix, f.name, l.prefix))
			} else if _, err := os.Stat(f.path); err != nil {
				errs = append(errs, fmt.Errorf("%s%s: %w", l.prefix, f.name, err))
			}
		}
	}
	given := 0
	for _, v := range []string{c.AppID, c.AppKey, c.AppSecret} {
		if v != "" {
			given++
		}
	}
	if given != 0 && given != 3 {
		errs = append(errs, errors.New("PUSHI_APP_ID, PUSHI_APP_KEY and PUSHI_APP_SECRET: set all three or none"))
	}
	if c.PathPrefix != "" && (!strings.HasPrefix(c.PathPrefix, "/") || strings.HasSuffix(c.PathPrefix, "/")) {
		errs = append(errs, errors.New("PUSHI_PATH_PREFIX: must start with / and not end with /"))
	}
	if c.SharedListener() && c.API.TLS != c.WebSocket.TLS {
		errs = append(errs, errors.New("APP_SSL and SERVER_SSL: must agree when APP_HOST:APP_PORT equals SERVER_HOST:SERVER_PORT"))
	}
	return errors.Join(errs...)
}

// SharedListener reports whether one listener serves both REST and WebSocket.
func (c *Config) SharedListener() bool {
	return c.API.Host == c.WebSocket.Host && c.API.Port == c.WebSocket.Port
}

func str(p *string) func(string) error { return func(v string) error { *p = v; return nil } }

func port(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("%q is not a port number (0-65535)", v)
		}
		*p = n
		return nil
	}
}

func positive(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", v)
		}
		*p = n
		return nil
	}
}

func nonNegative(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a non-negative integer", v)
		}
		*p = n
		return nil
	}
}

// adminToken refuses guessable tokens: the token guards every app's secrets.
func adminToken(p *string) func(string) error {
	return func(v string) error {
		if v != "" && len(v) < 16 {
			return errors.New("must be at least 16 characters (or unset, to generate one)")
		}
		*p = v
		return nil
	}
}

func seconds(p *time.Duration) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive number of seconds", v)
		}
		*p = time.Duration(n) * time.Second
		return nil
	}
}

// secondsString is a default duration as the seconds settings parse it.
func secondsString(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// maxBodyTimeout keeps a stalled body inside the 30 s that shutdown gives
// HTTP requests in flight (cmd/pushi).
const maxBodyTimeout = 30

func bodyTimeout(p *time.Duration) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBodyTimeout {
			return fmt.Errorf("%q is not a number of seconds from 1 to %d (a longer one would let a stalled request body outlast the shutdown limit)", v, maxBodyTimeout)
		}
		*p = time.Duration(n) * time.Second
		return nil
	}
}

func nonNegativeSeconds(p *time.Duration) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of seconds (0 or more)", v)
		}
		*p = time.Duration(n) * time.Second
		return nil
	}
}

// boolean accepts 1/true/yes and 0/false/no/"" (docs/features.md §12).
func boolean(p *bool) func(string) error {
	return func(v string) error {
		switch strings.ToLower(v) {
		case "1", "true", "yes":
			*p = true
		case "0", "false", "no", "":
			*p = false
		default:
			return fmt.Errorf("%q is not a boolean (1/true/yes or 0/false/no)", v)
		}
		return nil
	}
}

func oneOf(p *string, allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				*p = v
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

// MongoURL is the MongoDB store URL, "" for the embedded store. With
// several set, MONGO_URL beats MONGOLAB_URI beats MONGOHQ_URL, the
// original pushi's precedence.
func (c *Config) MongoURL() string {
	for _, u := range []string{c.MongoURLs.Mongo, c.MongoURLs.MongoLab, c.MongoURLs.MongoHQ} {
		if u != "" {
			return u
		}
	}
	return ""
}

func mongoURL(p *string) func(string) error {
	return func(v string) error {
		if v != "" && !strings.HasPrefix(v, "mongodb://") && !strings.HasPrefix(v, "mongodb+srv://") {
			return errors.New("must start with mongodb:// or mongodb+srv://")
		}
		*p = v
		return nil
	}
}

// mongoDBName refuses names MongoDB would refuse later, at first write.
func mongoDBName(p *string) func(string) error {
	return func(v string) error {
		if v == "" || len(v) > 63 || strings.ContainsAny(v, `/\. "$*<>:|?`) {
			return errors.New(`must be 1-63 characters without /\. "$*<>:|?`)
		}
		*p = v
		return nil
	}
}

// prefixes parses a comma-separated list of addresses and CIDRs.
func prefixes(p *[]netip.Prefix) func(string) error {
	return func(v string) error {
		*p = nil
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if pre, err := netip.ParsePrefix(part); err == nil {
				*p = append(*p, pre.Masked())
				continue
			}
			addr, err := netip.ParseAddr(part)
			if err != nil {
				return fmt.Errorf("%q is not an IP address or CIDR", part)
			}
			*p = append(*p, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
		}
		return nil
	}
}

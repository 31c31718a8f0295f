package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/hub"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Addr() != "127.0.0.1:8080" || c.WebSocket.Addr() != "127.0.0.1:9090" || c.SharedListener() {
		t.Fatalf("listeners %s %s", c.API.Addr(), c.WebSocket.Addr())
	}
	if c.ActivityTimeout != 120*time.Second || c.PongTimeout != 30*time.Second || c.MaxMessageBytes != 65536 {
		t.Fatalf("timeouts/limits %+v", c)
	}
}

func TestFlagsBeatEnvironment(t *testing.T) {
	c, err := Load([]string{"-app-port", "7000", "-server-port", "7000"}, env(map[string]string{"APP_PORT": "1", "SERVER_PORT": "2", "SERVER_SSL": "yes", "SERVER_SSL_KEY": "/dev/null", "SERVER_SSL_CER": "/dev/null", "APP_SSL": "true", "APP_SSL_KEY": "/dev/null", "APP_SSL_CER": "/dev/null"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Port != 7000 || !c.SharedListener() || !c.WebSocket.TLS {
		t.Fatalf("got %+v", c)
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"APP_PORT": "http"}, "APP_PORT"},
		{map[string]string{"SERVER_PORT": "70000"}, "SERVER_PORT"},
		{map[string]string{"SERVER_SSL": "maybe"}, "SERVER_SSL"},
		{map[string]string{"SERVER_SSL": "1"}, "SERVER_SSL_KEY"},
		{map[string]string{"APP_SSL": "1", "APP_SSL_KEY": "/no/such/key", "APP_SSL_CER": "/dev/null"}, "APP_SSL_KEY"},
		{map[string]string{"PUSHI_APP_KEY": "k"}, "PUSHI_APP_SECRET"},
		{map[string]string{"PUSHI_ACTIVITY_TIMEOUT": "0"}, "PUSHI_ACTIVITY_TIMEOUT"},
		{map[string]string{"PUSHI_QUEUE_BYTES": "-1"}, "PUSHI_QUEUE_BYTES"},
		{map[string]string{"PUSHI_DRAIN_WINDOW": "0"}, "PUSHI_DRAIN_WINDOW"},
		{map[string]string{"PUSHI_DRAIN_WINDOW": "2.5"}, "PUSHI_DRAIN_WINDOW"},
		{map[string]string{"PUSHI_PATH_PREFIX": "pusher/"}, "PUSHI_PATH_PREFIX"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"PUSHI_ADMIN_TOKEN": "short"}, "PUSHI_ADMIN_TOKEN"},
		{map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "0"}, "PUSHI_HTTP_BODY_TIMEOUT (-http-body-timeout): \"0\" is not a number of seconds from 1 to 30"},
		{map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "31"}, "PUSHI_HTTP_BODY_TIMEOUT"},
		{map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "1.5"}, "PUSHI_HTTP_BODY_TIMEOUT"},
		{map[string]string{"PUSHI_MAX_HTTP_CONNECTIONS": "-1"}, "PUSHI_MAX_HTTP_CONNECTIONS (-max-http-connections): \"-1\" is not a non-negative integer"},
		{map[string]string{"PUSHI_MAX_HTTP_CONNECTIONS": "many"}, "PUSHI_MAX_HTTP_CONNECTIONS"},
		{map[string]string{"APP_PORT": "9090", "APP_SSL": "1", "APP_SSL_KEY": "/dev/null", "APP_SSL_CER": "/dev/null"}, "must agree"},
	}
	for _, tc := range cases {
		_, err := Load(nil, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %s", tc.env, err, tc.want)
		}
	}
	// Several problems are reported together.
	_, err := Load(nil, env(map[string]string{"APP_PORT": "x", "SERVER_PORT": "y"}))
	if err == nil || !strings.Contains(err.Error(), "APP_PORT") || !strings.Contains(err.Error(), "SERVER_PORT") {
		t.Fatalf("joined errors: %v", err)
	}
}

func TestDrainWindow(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil || c.DrainWindow != 5*time.Second {
		t.Fatalf("default: %v %v", c.DrainWindow, err)
	}
	c, err = Load(nil, env(map[string]string{"PUSHI_DRAIN_WINDOW": "30"}))
	if err != nil || c.DrainWindow != 30*time.Second {
		t.Fatalf("env: %v %v", c.DrainWindow, err)
	}
	c, err = Load([]string{"-drain-window", "2"}, env(map[string]string{"PUSHI_DRAIN_WINDOW": "30"}))
	if err != nil || c.DrainWindow != 2*time.Second {
		t.Fatalf("flag: %v %v", c.DrainWindow, err)
	}
}

// The HTTP body timeout and connection cap: defaults for a public server,
// environment, flags winning, and 0 = unlimited for the cap.
func TestHTTPLimits(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil || c.HTTPBodyTimeout != 10*time.Second || c.MaxHTTPConnections != 1024 {
		t.Fatalf("defaults: %v %d %v", c.HTTPBodyTimeout, c.MaxHTTPConnections, err)
	}
	c, err = Load(nil, env(map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "30", "PUSHI_MAX_HTTP_CONNECTIONS": "0"}))
	if err != nil || c.HTTPBodyTimeout != 30*time.Second || c.MaxHTTPConnections != 0 {
		t.Fatalf("env: %v %d %v", c.HTTPBodyTimeout, c.MaxHTTPConnections, err)
	}
	c, err = Load([]string{"-http-body-timeout", "1", "-max-http-connections", "64"}, env(map[string]string{"PUSHI_HTTP_BODY_TIMEOUT": "30"}))
	if err != nil || c.HTTPBodyTimeout != time.Second || c.MaxHTTPConnections != 64 {
		t.Fatalf("flags: %v %d %v", c.HTTPBodyTimeout, c.MaxHTTPConnections, err)
	}
}

func TestAdminToken(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil || c.AdminToken != "" {
		t.Fatalf("unset: %q %v", c.AdminToken, err)
	}
	c, err = Load([]string{"-admin-token", "flag-token-0123456789"}, env(map[string]string{"PUSHI_ADMIN_TOKEN": "env-token-0123456789"}))
	if err != nil || c.AdminToken != "flag-token-0123456789" {
		t.Fatalf("flag: %q %v", c.AdminToken, err)
	}
	c, err = Load(nil, env(map[string]string{"PUSHI_ADMIN_TOKEN": "env-token-0123456789"}))
	if err != nil || c.AdminToken != "env-token-0123456789" {
		t.Fatalf("env: %q %v", c.AdminToken, err)
	}
}

func TestDBPath(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(nil, env(nil))
	if err != nil || c.DBPath != "./pushi.db" {
		t.Fatalf("default: %q %v", c.DBPath, err)
	}
	deep := filepath.Join(dir, "not", "yet", "pushi.db")
	c, err = Load([]string{"-db", deep}, env(map[string]string{"PUSHI_DB": "/elsewhere.db"}))
	if err != nil || c.DBPath != deep {
		t.Fatalf("a file in directories still to create: %q %v", c.DBPath, err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		dir:                                "is a directory",
		filepath.Join(file, "pushi.db"):    "is not a directory",
		filepath.Join(file, "a", "b", "x"): "not a directory",
	} {
		_, err := Load(nil, env(map[string]string{"PUSHI_DB": path}))
		if err == nil || !strings.Contains(err.Error(), "PUSHI_DB") || !strings.Contains(err.Error(), want) {
			t.Errorf("PUSHI_DB=%s: %v, want PUSHI_DB and %q", path, err, want)
		}
	}
}

func TestMongoPrecedence(t *testing.T) {
	env := map[string]string{"MONGOHQ_URL": "mongodb://hq/", "MONGOLAB_URI": "mongodb://lab/"}
	c, err := Load(nil, func(k string) string { return env[k] })
	if err != nil || c.MongoURL() != "mongodb://lab/" || c.MongoDB != "pushi" {
		t.Fatalf("MONGOLAB_URI beats MONGOHQ_URL: %q %q %v", c.MongoURL(), c.MongoDB, err)
	}
	env["MONGO_URL"] = "mongodb://main/"
	if c, _ := Load(nil, func(k string) string { return env[k] }); c.MongoURL() != "mongodb://main/" {
		t.Fatalf("MONGO_URL wins: %q", c.MongoURL())
	}
	if c, _ := Load(nil, func(string) string { return "" }); c.MongoURL() != "" {
		t.Fatal("no Mongo variable: the embedded store")
	}
	for _, bad := range []map[string]string{{"MONGO_URL": "http://x"}, {"MONGO_DB": "a.b"}} {
		if _, err := Load(nil, func(k string) string { return bad[k] }); err == nil {
			t.Fatalf("accepted %v", bad)
		}
	}
}

// The connection settings default to hub.DefaultOptions, so a server
// started without them runs exactly as a Node built without a config.
func TestConnectionDefaultsAreTheHubs(t *testing.T) {
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	h := hub.DefaultOptions()
	if c.ActivityTimeout != h.ActivityTimeout || c.PongTimeout != h.PongTimeout || c.MaxMessageBytes != h.MaxMessageBytes || c.QueueBytes != h.QueueBudget {
		t.Fatalf("config defaults activity %v pong %v message %d queue %d, hub.DefaultOptions %v %v %d %d",
			c.ActivityTimeout, c.PongTimeout, c.MaxMessageBytes, c.QueueBytes, h.ActivityTimeout, h.PongTimeout, h.MaxMessageBytes, h.QueueBudget)
	}
}

// README's configuration table states every default a second time, for
// readers; this keeps it equal to the settings. A row lists one default
// per variable, or one for its first variable when the others default to
// nothing; "generated" and "—" mean no default value.
func TestREADMEStatesTheDefaults(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ticked := regexp.MustCompile("`([^`]*)`")
	documented := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		var vars, defs []string
		for _, m := range ticked.FindAllStringSubmatch(cells[1], -1) {
			vars = append(vars, m[1])
		}
		for _, m := range ticked.FindAllStringSubmatch(cells[3], -1) {
			defs = append(defs, m[1])
		}
		switch strings.TrimSpace(cells[3]) {
		case "generated", "—":
			defs = []string{""}
		}
		if len(defs) != len(vars) && len(defs) != 1 {
			t.Errorf("README row %q: %d defaults for %d variables", strings.TrimSpace(cells[1]), len(defs), len(vars))
			continue
		}
		for i, v := range vars {
			switch {
			case i < len(defs):
				documented[v] = defs[i]
			default:
				documented[v] = ""
			}
		}
	}
	for _, s := range (&Config{}).settings() {
		doc, ok := documented[s.env]
		switch {
		case !ok:
			t.Errorf("%s is not in README's configuration table", s.env)
		case doc != s.def:
			t.Errorf("README says %s defaults to %q; the setting's default is %q", s.env, doc, s.def)
		}
	}
}

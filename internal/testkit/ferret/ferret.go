// Package ferret runs FerretDB in process for tests: a MongoDB
// wire-protocol server on SQLite files, so the MongoDB store is tested
// without a MongoDB installed. Only _test.go files import it.
package ferret

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Start runs a FerretDB for t alone, with its files in t's temporary
// directory, and stops it when t ends. It returns the server's
// mongodb://host:port URI, without a trailing slash, so that a database
// path can be appended.
func Start(t testing.TB) string {
	t.Helper()
	f, err := newFerret(t.TempDir())
	if err != nil {
		t.Fatal("FerretDB:", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return uri(f)
}

// shared is the one FerretDB of a test binary, for Shared.
var shared struct {
	main bool // Main runs the tests, so the files will be removed
	once sync.Once
	dir  string
	uri  string
	err  error
}

// Shared returns the URI (as Start's) of one FerretDB for the whole test
// binary, started on first use: starting one per test would cost each a
// start-up, and tests keep apart by database name. It runs until the
// binary exits; Main, which the package's TestMain must call, removes its
// files then.
func Shared(t testing.TB) string {
	t.Helper()
	if !shared.main {
		t.Fatal("ferret.Shared needs the package's TestMain to call ferret.Main")
	}
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "pushi-ferret-"); shared.err != nil {
			return
		}
		f, err := newFerret(shared.dir)
		if err != nil {
			shared.err = err
			return
		}
		go f.Run(context.Background())
		shared.uri = uri(f)
	})
	if shared.err != nil {
		t.Fatal("FerretDB:", shared.err)
	}
	return shared.uri
}

// Main runs the tests and then removes the files of the Shared FerretDB;
// a package whose tests use Shared calls it from TestMain.
func Main(m *testing.M) {
	shared.main = true
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// newFerret configures a FerretDB on loopback with its SQLite files in
// dir, logging errors only.
func newFerret(dir string) (*ferretdb.FerretDB, error) {
	return ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
}

func uri(f *ferretdb.FerretDB) string { return strings.TrimSuffix(f.MongoDBURI(), "/") }

package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"

	mongostore "github.com/pushi-io/pushi/internal/store/mongo"
)

// PUSHI_TEST_STORE=mongo runs this whole package with the MongoDB store:
// every server a test starts gets MONGO_URL pointing at one in-process
// FerretDB, and a database named after its PUSHI_DB path, so a restart on
// "the same file" finds the same database. The test command runs the
// package both ways, so every end-to-end test holds on both backends.
var mongoMode = os.Getenv("PUSHI_TEST_STORE") == "mongo"

var sharedFerret struct {
	once sync.Once
	uri  string
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedFerret.dir != "" {
		os.RemoveAll(sharedFerret.dir)
	}
	os.Exit(code)
}

// withTestStore adds the MongoDB settings to vars in mongo mode.
func withTestStore(t testing.TB, vars map[string]string) {
	if !mongoMode || vars["MONGO_URL"] != "" {
		return
	}
	sharedFerret.once.Do(func() {
		if sharedFerret.dir, sharedFerret.err = os.MkdirTemp("", "pushi-ferret-"); sharedFerret.err != nil {
			return
		}
		f, err := ferretdb.New(&ferretdb.Config{
			Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
			Handler:   "sqlite",
			SQLiteURL: "file:" + sharedFerret.dir + "/",
			Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err != nil {
			sharedFerret.err = err
			return
		}
		go f.Run(context.Background())
		sharedFerret.uri = f.MongoDBURI()
	})
	if sharedFerret.err != nil {
		t.Fatal("FerretDB:", sharedFerret.err)
	}
	sum := sha256.Sum256([]byte(vars["PUSHI_DB"]))
	vars["MONGO_URL"] = sharedFerret.uri
	vars["MONGO_DB"] = "t" + hex.EncodeToString(sum[:12])
}

// checkTestStore fails a test whose server is not on the backend the mode
// promises, so a mongo run can never quietly test SQLite.
func checkTestStore(t testing.TB, srv *Server) {
	if _, onMongo := srv.Store.(*mongostore.Store); mongoMode && !onMongo {
		t.Fatalf("PUSHI_TEST_STORE=mongo but the server runs on %T", srv.Store)
	}
}

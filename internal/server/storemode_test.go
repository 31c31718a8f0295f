package server

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	mongostore "github.com/pushi-io/pushi/internal/store/mongo"
	"github.com/pushi-io/pushi/internal/testkit/ferret"
)

// PUSHI_TEST_STORE=mongo runs this whole package with the MongoDB store:
// every server a test starts gets MONGO_URL pointing at one in-process
// FerretDB, and a database named after its PUSHI_DB path, so a restart on
// "the same file" finds the same database. The test command runs the
// package both ways, so every end-to-end test holds on both backends.
var mongoMode = os.Getenv("PUSHI_TEST_STORE") == "mongo"

func TestMain(m *testing.M) { ferret.Main(m) }

// withTestStore adds the MongoDB settings to vars in mongo mode.
func withTestStore(t testing.TB, vars map[string]string) {
	if !mongoMode || vars["MONGO_URL"] != "" {
		return
	}
	sum := sha256.Sum256([]byte(vars["PUSHI_DB"]))
	vars["MONGO_URL"] = ferret.Shared(t)
	vars["MONGO_DB"] = "t" + hex.EncodeToString(sum[:12])
}

// checkTestStore fails a test whose server is not on the backend the mode
// promises, so a mongo run can never quietly test SQLite.
func checkTestStore(t testing.TB, srv *Server) {
	if _, onMongo := srv.Store.(*mongostore.Store); mongoMode && !onMongo {
		t.Fatalf("PUSHI_TEST_STORE=mongo but the server runs on %T", srv.Store)
	}
}

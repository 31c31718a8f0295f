package mongo

import (
	"path/filepath"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/sqlite"
	"github.com/pushi-io/pushi/internal/store/storetest"
)

func openSQLite(t *testing.T) store.Store {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "pushi.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openMongo(t *testing.T) store.Store { return openTest(t, freshDB()) }

// TestCopy moves a store both ways between the embedded default and
// MongoDB (FerretDB here), and between two MongoDB databases.
func TestCopy(t *testing.T) {
	// Pages of 2 make the dump (and the MongoDB batches) span many pages.
	defer func(n int) { dumpPage = n }(dumpPage)
	dumpPage = 2
	t.Run("SQLiteToMongo", func(t *testing.T) { storetest.RunCopy(t, openSQLite, openMongo) })
	t.Run("MongoToSQLite", func(t *testing.T) { storetest.RunCopy(t, openMongo, openSQLite) })
	t.Run("MongoToMongo", func(t *testing.T) { storetest.RunCopy(t, openMongo, openMongo) })
}

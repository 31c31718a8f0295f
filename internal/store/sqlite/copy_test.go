package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/storetest"
)

func TestCopy(t *testing.T) {
	// Pages of 2 make the dump (and the MongoDB batches) span many pages.
	defer func(n int) { dumpPage = n }(dumpPage)
	dumpPage = 2
	opener := func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "pushi.db")) }
	storetest.RunCopy(t, opener, opener)
}

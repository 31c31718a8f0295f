package mongo

import (
	"testing"

	"github.com/pushi-io/pushi/internal/store/storetest"
)

// BenchmarkAppendParallel: the committer groups concurrent writers into
// one $inc and one InsertMany. Against the in-process FerretDB on SQLite
// it measures this package and FerretDB, not a real MongoDB.
func BenchmarkAppendParallel(b *testing.B) {
	storetest.BenchAppendParallel(b, openTest(b, freshDB()))
}

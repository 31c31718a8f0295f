package mongo

import (
	"fmt"
	"testing"

	"github.com/pushi-io/pushi/internal/store/storetest"
)

// BenchmarkAppendParallel: the committer groups concurrent writers into
// one $inc and one InsertMany. Against the in-process FerretDB on SQLite
// it measures this package and FerretDB, not a real MongoDB.
func BenchmarkAppendParallel(b *testing.B) {
	storetest.BenchAppendParallel(b, openTest(b, freshDB()))
}

// BenchmarkFollow: a new follow, in an empty store and beside 20 000
// follows of other users.
func BenchmarkFollow(b *testing.B) {
	for _, others := range []int{0, 20_000} {
		b.Run(fmt.Sprint("others=", others), func(b *testing.B) { storetest.BenchFollow(b, openTest(b, freshDB()), others) })
	}
}

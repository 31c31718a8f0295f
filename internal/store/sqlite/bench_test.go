package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pushi-io/pushi/internal/store/storetest"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppendSerial: every Append pays its own fsync.
func BenchmarkAppendSerial(b *testing.B) { storetest.BenchAppendSerial(b, benchStore(b)) }

// BenchmarkAppendParallel: group commit shares one fsync among what is queued.
func BenchmarkAppendParallel(b *testing.B) { storetest.BenchAppendParallel(b, benchStore(b)) }

// BenchmarkFollow: a new follow, in an empty store and beside 20 000
// follows of other users.
func BenchmarkFollow(b *testing.B) {
	for _, others := range []int{0, 20_000} {
		b.Run(fmt.Sprint("others=", others), func(b *testing.B) { storetest.BenchFollow(b, benchStore(b), others) })
	}
}

package sqlite

import (
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

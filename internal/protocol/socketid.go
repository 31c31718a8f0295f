package protocol

import (
	"crypto/rand"
	"encoding/binary"
	"regexp"
	"strconv"
	"sync/atomic"
)

// SocketIDs generates socket ids "<counter>.<random>": the counter starts at a
// random point per process and the second part carries 48 bits from
// crypto/rand, so ids are unguessable and, in practice, unique across nodes.
type SocketIDs struct{ counter atomic.Uint64 }

// NewSocketIDs starts the counter at a random value below 10^9.
func NewSocketIDs() *SocketIDs {
	g := &SocketIDs{}
	g.counter.Store(randomUint64() % 1_000_000_000)
	return g
}

// Next returns a fresh socket id.
func (g *SocketIDs) Next() string {
	n := g.counter.Add(1)
	r := randomUint64() & (1<<48 - 1)
	b := make([]byte, 0, 40)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, r, 10)
	return string(b)
}

func randomUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return binary.LittleEndian.Uint64(b[:])
}

var socketIDPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})$`)

// IsValidSocketID checks the format of docs/protocol.md §1.2.
func IsValidSocketID(s string) bool { return socketIDPattern.MatchString(s) }

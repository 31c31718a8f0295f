package store

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// midGen makes UUIDv7 ids that are strictly increasing within a process:
// within one millisecond the 12-bit rand_a field counts up, and when it
// overflows the timestamp is borrowed forward. Inbox paging and "newest
// first" reads rely on that order.
var midGen struct {
	sync.Mutex
	ms  int64
	seq uint16
}

// NewMID returns a new UUIDv7 in canonical lowercase form, timestamped now
// unless that would sort before a mid already made.
func NewMID(now time.Time) string {
	ms := now.UnixMilli()
	midGen.Lock()
	if ms <= midGen.ms {
		ms = midGen.ms
		midGen.seq++
		if midGen.seq > 0x0fff {
			ms++
			midGen.seq = 0
		}
	} else {
		midGen.seq = 0
	}
	midGen.ms = ms
	seq := midGen.seq
	midGen.Unlock()

	var b [16]byte
	if _, err := rand.Read(b[8:]); err != nil {
		panic(err)
	}
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(seq>>8)
	b[7] = byte(seq)
	b[8] = 0x80 | b[8]&0x3f // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// SeedMID makes every later NewMID sort after mid. Backends call it at
// start with the greatest mid they hold, so a clock that stepped back
// across a restart cannot put new records before old ones in mid order.
// A mid this package did not make is ignored.
func SeedMID(mid string) {
	var b [8]byte
	if len(mid) != 36 || mid[14] != '7' {
		return
	}
	if _, err := hex.Decode(b[0:4], []byte(mid[0:8])); err != nil {
		return
	}
	if _, err := hex.Decode(b[4:6], []byte(mid[9:13])); err != nil {
		return
	}
	if _, err := hex.Decode(b[6:8], []byte(mid[14:18])); err != nil {
		return
	}
	ms := int64(b[0])<<40 | int64(b[1])<<32 | int64(b[2])<<24 | int64(b[3])<<16 | int64(b[4])<<8 | int64(b[5])
	seq := uint16(b[6]&0x0f)<<8 | uint16(b[7])
	midGen.Lock()
	if ms > midGen.ms || ms == midGen.ms && seq > midGen.seq {
		midGen.ms, midGen.seq = ms, seq
	}
	midGen.Unlock()
}

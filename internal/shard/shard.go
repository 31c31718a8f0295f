// Package shard picks the shard of an (app, channel) pair, for the maps
// that are split by channel so work on different channels does not
// contend: the hub's subscriber index and the memory cluster state.
package shard

import "hash/maphash"

// Picker hashes (app, channel) with a per-process random seed, so a client
// cannot aim many channels at one shard.
type Picker struct{ seed maphash.Seed }

// NewPicker returns a picker with a fresh seed.
func NewPicker() Picker { return Picker{seed: maphash.MakeSeed()} }

// Of returns the shard index of (app, channel) among n.
func (p Picker) Of(app, channel string, n int) int {
	var h maphash.Hash
	h.SetSeed(p.seed)
	h.WriteString(app)
	h.WriteByte(0)
	h.WriteString(channel)
	return int(h.Sum64() % uint64(n))
}

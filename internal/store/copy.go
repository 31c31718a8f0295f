package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// InboxRow is one stored inbox row, as kept (its record may be gone).
type InboxRow struct {
	AppID, UserID, MID, Channel string
	Seq                         int64
	Timestamp                   time.Time
}

// DumpWriter receives every row of a store, kind by kind.
type DumpWriter interface {
	App(StoredApp) error
	Meta(key, value string) error
	Follow(Follow) error
	// Sequence is a channel's last allocated seq, which may be past every
	// retained record: trimming never lowers it.
	Sequence(appID, channel string, last int64) error
	Event(Event) error
	Inbox(InboxRow) error
}

// Dumper reads everything a store holds, in pages.
type Dumper interface {
	Dump(ctx context.Context, w DumpWriter) error
}

// Loader writes rows verbatim: no new mids, seqs or timestamps.
type Loader interface {
	// Empty reports whether the store holds no row of any kind.
	Empty(ctx context.Context) (bool, error)
	// Load gives fill a writer and stores what it writes. It is meant for
	// an empty store (Copy checks): on error the backend removes the
	// partial load, which on MongoDB means deleting every document.
	Load(ctx context.Context, fill func(DumpWriter) error) error
}

// Counts are the rows copied, per kind.
type Counts struct {
	Apps, Meta, Follows, Sequences, Events, Inbox int
}

func (c Counts) String() string {
	return fmt.Sprintf("apps %d, meta %d, follows %d, sequences %d, events %d, inbox %d",
		c.Apps, c.Meta, c.Follows, c.Sequences, c.Events, c.Inbox)
}

// ErrTargetNotEmpty: Copy never merges into existing data, where mids,
// seqs and app keys could collide.
var ErrTargetNotEmpty = errors.New("store: copy target is not empty")

// Copy moves everything from one store into an empty one, verbatim.
func Copy(ctx context.Context, from Dumper, to Loader) (Counts, error) {
	var c Counts
	empty, err := to.Empty(ctx)
	if err != nil {
		return c, fmt.Errorf("target: %w", err)
	}
	if !empty {
		return c, ErrTargetNotEmpty
	}
	err = to.Load(ctx, func(w DumpWriter) error {
		return from.Dump(ctx, &counter{w: w, c: &c})
	})
	if err != nil {
		return Counts{}, err
	}
	return c, nil
}

// counter passes rows through, counting them.
type counter struct {
	w DumpWriter
	c *Counts
}

func (k *counter) App(a StoredApp) error {
	k.c.Apps++
	return k.w.App(a)
}

func (k *counter) Meta(key, value string) error {
	k.c.Meta++
	return k.w.Meta(key, value)
}

func (k *counter) Follow(f Follow) error {
	k.c.Follows++
	return k.w.Follow(f)
}

func (k *counter) Sequence(appID, channel string, last int64) error {
	k.c.Sequences++
	return k.w.Sequence(appID, channel, last)
}

func (k *counter) Event(e Event) error {
	k.c.Events++
	return k.w.Event(e)
}

func (k *counter) Inbox(r InboxRow) error {
	k.c.Inbox++
	return k.w.Inbox(r)
}

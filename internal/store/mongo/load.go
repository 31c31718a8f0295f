package mongo

import (
	"context"
	"errors"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func (s *Store) collections() []*mongo.Collection {
	return []*mongo.Collection{s.apps, s.meta, s.follows, s.sequences, s.events, s.inbox}
}

// Empty reports whether no collection holds a document.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	for _, coll := range s.collections() {
		c, cancel := s.op(ctx)
		err := coll.FindOne(c, bson.D{}).Err()
		cancel()
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return false, s.wrap(ctx, err)
		}
	}
	return true, nil
}

// Load inserts in batches. Without a transaction a failed load is undone
// by deleting every document again: Copy only loads into an empty
// database, so all of them are the load's.
func (s *Store) Load(ctx context.Context, fill func(store.DumpWriter) error) error {
	l := &loader{s: s, ctx: ctx, buf: map[*mongo.Collection][]any{}, slots: map[[2]string]int{}}
	err := fill(l)
	if err == nil {
		err = l.flushAll()
	}
	if err != nil {
		for _, coll := range s.collections() {
			c, cancel := s.op(context.Background())
			coll.DeleteMany(c, bson.D{})
			cancel()
		}
		return err
	}
	// New records of this process must sort after the loaded ones.
	store.SeedMID(l.maxMID)
	return nil
}

type loader struct {
	s      *Store
	ctx    context.Context
	buf    map[*mongo.Collection][]any
	slots  map[[2]string]int // next follow slot per (app, user); see Follow
	maxMID string
}

func (l *loader) add(coll *mongo.Collection, doc any) error {
	l.buf[coll] = append(l.buf[coll], doc)
	if len(l.buf[coll]) < dumpPage {
		return nil
	}
	return l.flush(coll)
}

func (l *loader) flush(coll *mongo.Collection) error {
	docs := l.buf[coll]
	if len(docs) == 0 {
		return nil
	}
	l.buf[coll] = docs[:0]
	c, cancel := l.s.op(l.ctx)
	defer cancel()
	_, err := coll.InsertMany(c, docs)
	return l.s.wrap(l.ctx, err)
}

func (l *loader) flushAll() error {
	for _, coll := range l.s.collections() {
		if err := l.flush(coll); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) App(a store.StoredApp) error {
	d, err := toAppDoc(a)
	if err != nil {
		return err
	}
	return l.add(l.s.apps, d)
}

func (l *loader) Meta(key, value string) error {
	return l.add(l.s.meta, bson.D{{Key: "_id", Value: key}, {Key: "value", Value: value}})
}

// Follow numbers each user's follows 0, 1, … as Follow's slots: any
// limit the source kept them under, the slots stay below it.
func (l *loader) Follow(f store.Follow) error {
	k := [2]string{f.AppID, f.UserID}
	slot := l.slots[k]
	l.slots[k]++
	return l.add(l.s.follows, followDoc{AppID: f.AppID, UserID: f.UserID, Channel: f.Channel, Created: f.CreatedAt.Unix(), Slot: slot})
}

func (l *loader) Sequence(appID, channel string, last int64) error {
	return l.add(l.s.sequences, seqDoc{ID: seqID(chanKey{appID, channel}), AppID: appID, Channel: channel, Last: last})
}

// Event stores the record with its inbox done: its rows come verbatim.
func (l *loader) Event(e store.Event) error {
	l.maxMID = max(l.maxMID, e.MID)
	return l.add(l.s.events, eventDoc{MID: e.MID, AppID: e.AppID, Channel: e.Channel, Seq: e.Seq, TS: e.Timestamp.UnixMilli(),
		Event: e.Event, Data: e.Data, Source: e.Source, SocketID: e.SocketID, UserID: e.UserID, InboxDone: true})
}

func (l *loader) Inbox(r store.InboxRow) error {
	return l.add(l.s.inbox, inboxDoc{AppID: r.AppID, UserID: r.UserID, MID: r.MID, Channel: r.Channel, Seq: r.Seq, TS: r.Timestamp.UnixMilli()})
}

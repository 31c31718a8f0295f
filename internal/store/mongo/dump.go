package mongo

import (
	"context"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// dumpPage is the documents read per query while dumping, and written
// per InsertMany while loading (a var for tests).
var dumpPage = 500

// Dump reads every collection in _id pages. MongoDB offers no snapshot
// across collections here: stop the pushi nodes before dumping.
func (s *Store) Dump(ctx context.Context, w store.DumpWriter) error {
	steps := []struct {
		coll *mongo.Collection
		emit func(bson.Raw) error
	}{
		{s.apps, func(raw bson.Raw) error {
			var d appDoc
			if err := bson.Unmarshal(raw, &d); err != nil {
				return err
			}
			a, err := fromAppDoc(d)
			if err != nil {
				return err
			}
			return w.App(a)
		}},
		{s.meta, func(raw bson.Raw) error {
			var d struct {
				Key   string `bson:"_id"`
				Value string `bson:"value"`
			}
			if err := bson.Unmarshal(raw, &d); err != nil {
				return err
			}
			return w.Meta(d.Key, d.Value)
		}},
		{s.follows, func(raw bson.Raw) error {
			var d followDoc
			if err := bson.Unmarshal(raw, &d); err != nil {
				return err
			}
			return w.Follow(store.Follow{AppID: d.AppID, UserID: d.UserID, Channel: d.Channel, CreatedAt: time.Unix(d.Created, 0)})
		}},
		{s.sequences, func(raw bson.Raw) error {
			var d seqDoc
			if err := bson.Unmarshal(raw, &d); err != nil {
				return err
			}
			return w.Sequence(d.AppID, d.Channel, d.Last)
		}},
		{s.events, func(raw bson.Raw) error {
			var d eventDoc
			if err := bson.Unmarshal(raw, &d); err != nil {
				return err
			}
			return w.Event(d.event())
		}},
		{s.inbox, func(raw bson.Raw) error {
			var d inboxDoc
			if err := bson.Unmarshal(raw, &d); err != nil {
				return err
			}
			return w.Inbox(store.InboxRow{AppID: d.AppID, UserID: d.UserID, MID: d.MID, Channel: d.Channel, Seq: d.Seq, Timestamp: time.UnixMilli(d.TS)})
		}},
	}
	for _, st := range steps {
		if err := s.dumpColl(ctx, st.coll, st.emit); err != nil {
			return err
		}
	}
	return nil
}

// seqDoc is a channel's counter; its _id is seqID.
type seqDoc struct {
	ID      string `bson:"_id"`
	AppID   string `bson:"app_id"`
	Channel string `bson:"channel"`
	Last    int64  `bson:"last"`
}

// dumpColl pages through coll in _id order, whatever the _id's type
// (follow and inbox rows have generated ObjectIDs).
func (s *Store) dumpColl(ctx context.Context, coll *mongo.Collection, emit func(bson.Raw) error) error {
	filter := bson.D{}
	for {
		page, err := s.dumpPage(ctx, coll, filter)
		if err != nil {
			return err
		}
		for _, raw := range page {
			if err := emit(raw); err != nil {
				return err
			}
		}
		if len(page) < dumpPage {
			return nil
		}
		var last struct {
			ID any `bson:"_id"`
		}
		if err := bson.Unmarshal(page[len(page)-1], &last); err != nil {
			return err
		}
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: last.ID}}}}
	}
}

func (s *Store) dumpPage(ctx context.Context, coll *mongo.Collection, filter bson.D) ([]bson.Raw, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := coll.Find(c, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(dumpPage)))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	defer cur.Close(c)
	var page []bson.Raw
	for cur.Next(c) {
		page = append(page, append(bson.Raw(nil), cur.Current...))
	}
	return page, s.wrap(ctx, cur.Err())
}

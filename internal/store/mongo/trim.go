package mongo

import (
	"context"
	"errors"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// trimBatch bounds the mids one $in carries.
const trimBatch = 1000

// Trim deletes, for one app: records past the age or the per-channel cap,
// inbox rows past the age or the per-user cap, and inbox rows whose record
// is gone. Inbox rows go before their records, so a Trim cut short leaves
// records without rows (trimmed next time), never rows without records.
// Sequences stay: a seq is never reused. Each step is its own bounded
// operation, so no lock is held for the whole pass.
func (s *Store) Trim(ctx context.Context, appID string, r store.Retention, now time.Time) (int, error) {
	removed := 0
	del := func(coll *mongo.Collection, filter bson.D) error {
		c, cancel := s.op(ctx)
		defer cancel()
		res, err := coll.DeleteMany(c, filter)
		if err != nil {
			return s.wrap(ctx, err)
		}
		removed += int(res.DeletedCount)
		return nil
	}
	app := bson.E{Key: "app_id", Value: appID}
	if r.MaxAge > 0 {
		// A row carries its record's timestamp, so one cutoff takes both.
		old := bson.E{Key: "ts", Value: bson.D{{Key: "$lt", Value: now.Add(-r.MaxAge).UnixMilli()}}}
		if err := del(s.inbox, bson.D{app, old}); err != nil {
			return removed, err
		}
		if err := del(s.events, bson.D{app, old}); err != nil {
			return removed, err
		}
	}
	if r.MaxEventsPerChannel > 0 {
		if err := s.trimChannels(ctx, appID, r.MaxEventsPerChannel, del); err != nil {
			return removed, err
		}
	}
	if err := s.trimOrphans(ctx, appID, del); err != nil {
		return removed, err
	}
	if r.InboxMaxPerUser > 0 {
		users, err := s.distinct(ctx, s.inbox, "user_id", appID)
		if err != nil {
			return removed, err
		}
		for _, u := range users {
			user := bson.D{app, {Key: "user_id", Value: u}}
			var cut inboxDoc
			if err := s.nth(ctx, s.inbox, user, "mid", r.InboxMaxPerUser, &cut); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue // within the cap
				}
				return removed, err
			}
			if err := del(s.inbox, append(user, bson.E{Key: "mid", Value: bson.D{{Key: "$lte", Value: cut.MID}}})); err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}

// trimChannels keeps each channel's newest keep records: the record keep
// places from the newest is the cutoff, found by a sorted skip on the
// (app_id, channel, seq) index.
func (s *Store) trimChannels(ctx context.Context, appID string, keep int, del func(*mongo.Collection, bson.D) error) error {
	channels, err := s.distinct(ctx, s.events, "channel", appID)
	if err != nil {
		return err
	}
	for _, ch := range channels {
		channel := bson.D{{Key: "app_id", Value: appID}, {Key: "channel", Value: ch}}
		var cut eventDoc
		if err := s.nth(ctx, s.events, channel, "seq", keep, &cut); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return err
		}
		older := append(channel, bson.E{Key: "seq", Value: bson.D{{Key: "$lte", Value: cut.Seq}}})
		for {
			mids, err := s.mids(ctx, older)
			if err != nil {
				return err
			}
			if len(mids) == 0 {
				break
			}
			in := bson.D{{Key: "$in", Value: mids}}
			if err := del(s.inbox, bson.D{{Key: "mid", Value: in}}); err != nil {
				return err
			}
			if err := del(s.events, bson.D{{Key: "_id", Value: in}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// trimOrphans removes the app's inbox rows whose record is gone (a record
// removed while its rows were being written, or a failed append whose
// cleanup was cut short). It pages through the rows by _id.
func (s *Store) trimOrphans(ctx context.Context, appID string, del func(*mongo.Collection, bson.D) error) error {
	filter := bson.D{{Key: "app_id", Value: appID}}
	for {
		c, cancel := s.op(ctx)
		cur, err := s.inbox.Find(c, filter,
			options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(trimBatch).SetProjection(bson.D{{Key: "mid", Value: 1}}))
		var rows []struct {
			ID  bson.ObjectID `bson:"_id"`
			MID string        `bson:"mid"`
		}
		if err == nil {
			err = cur.All(c, &rows)
		}
		cancel()
		if err != nil {
			return s.wrap(ctx, err)
		}
		if len(rows) == 0 {
			return nil
		}
		mids := make([]string, len(rows))
		for i, r := range rows {
			mids[i] = r.MID
		}
		kept, err := s.mids(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: mids}}}})
		if err != nil {
			return err
		}
		if len(kept) < len(mids) {
			gone := make([]string, 0, len(mids)-len(kept))
			have := make(map[string]bool, len(kept))
			for _, m := range kept {
				have[m] = true
			}
			for _, m := range mids {
				if !have[m] {
					gone = append(gone, m)
				}
			}
			if err := del(s.inbox, bson.D{{Key: "app_id", Value: appID}, {Key: "mid", Value: bson.D{{Key: "$in", Value: gone}}}}); err != nil {
				return err
			}
		}
		if len(rows) < trimBatch {
			return nil
		}
		filter = bson.D{{Key: "app_id", Value: appID}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: rows[len(rows)-1].ID}}}}
	}
}

// nth decodes the document n places (0-based) from the newest by field,
// within filter: the newest one past the cap. ErrNotFound when fewer.
func (s *Store) nth(ctx context.Context, coll *mongo.Collection, filter bson.D, field string, n int, into any) error {
	c, cancel := s.op(ctx)
	defer cancel()
	err := coll.FindOne(c, filter, options.FindOne().SetSort(bson.D{{Key: field, Value: -1}}).SetSkip(int64(n))).Decode(into)
	return s.wrap(ctx, err)
}

// mids returns up to trimBatch record ids matching filter.
func (s *Store) mids(ctx context.Context, filter bson.D) ([]string, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.events.Find(c, filter, options.Find().SetLimit(trimBatch).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var docs []struct {
		MID string `bson:"_id"`
	}
	if err := cur.All(c, &docs); err != nil {
		return nil, s.wrap(ctx, err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.MID
	}
	return out, nil
}

// distinct lists the app's values of field. It groups with an aggregation
// rather than the distinct command, whose FerretDB reply the driver
// cannot decode.
func (s *Store) distinct(ctx context.Context, coll *mongo.Collection, field, appID string) ([]string, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := coll.Aggregate(c, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "app_id", Value: appID}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$" + field}}}},
	})
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var groups []struct {
		Value string `bson:"_id"`
	}
	if err := cur.All(c, &groups); err != nil {
		return nil, s.wrap(ctx, err)
	}
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.Value
	}
	return out, nil
}

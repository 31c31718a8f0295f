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

func (d eventDoc) event() store.Event {
	return store.Event{MID: d.MID, AppID: d.AppID, Channel: d.Channel, Seq: d.Seq, Timestamp: time.UnixMilli(d.TS),
		Event: d.Event, Data: d.Data, Source: d.Source, SocketID: d.SocketID, UserID: d.UserID}
}

// eventFields leaves out the bookkeeping a reader never needs.
var eventFields = bson.D{{Key: "inbox_users", Value: 0}, {Key: "inbox_done", Value: 0}}

// Events reads one range of the (app_id, channel, seq) index, one more
// than limit to learn whether another page follows.
func (s *Store) Events(ctx context.Context, appID, channel string, q store.EventQuery) ([]store.Event, bool, error) {
	limit := clampLimit(q.Limit)
	seq, dir := bson.D{{Key: "$gt", Value: q.After}}, 1
	if !q.Forward {
		seq, dir = bson.D{{Key: "$lt", Value: q.Before}}, -1
		if q.Before <= 0 {
			seq = bson.D{{Key: "$lt", Value: int64(1<<63 - 1)}}
		}
	}
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.events.Find(c, bson.D{{Key: "app_id", Value: appID}, {Key: "channel", Value: channel}, {Key: "seq", Value: seq}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: dir}}).SetSkip(int64(max(q.Skip, 0))).SetLimit(int64(limit+1)).SetProjection(eventFields))
	if err != nil {
		return nil, false, s.wrap(ctx, err)
	}
	var docs []eventDoc
	if err := cur.All(c, &docs); err != nil {
		return nil, false, s.wrap(ctx, err)
	}
	out := make([]store.Event, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.event())
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// Inbox reads the user's rows newest first from the (app_id, user_id, mid)
// index, then their records by _id. Mids are made in commit order, so the
// mid is the cursor and stays valid after its row is trimmed. A row whose
// record is gone (trimmed, not yet swept) is not shown; the read goes on
// past it so a page is not cut short.
func (s *Store) Inbox(ctx context.Context, appID, userID string, q store.InboxQuery) ([]store.Event, bool, error) {
	limit := clampLimit(q.Limit)
	before := q.BeforeMID
	if before == "" {
		before = "~" // sorts after every hex mid
	}
	skip := int64(max(q.Skip, 0))
	out := []store.Event{}
	for {
		want := limit + 1 - len(out)
		rows, err := s.inboxRows(ctx, appID, userID, before, skip, want)
		if err != nil {
			return nil, false, err
		}
		records, err := s.records(ctx, rows)
		if err != nil {
			return nil, false, err
		}
		for _, r := range rows {
			if e, ok := records[r.MID]; ok {
				out = append(out, e)
			}
		}
		if len(rows) < want || len(out) > limit {
			break
		}
		before, skip = rows[len(rows)-1].MID, 0
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (s *Store) inboxRows(ctx context.Context, appID, userID, before string, skip int64, n int) ([]inboxDoc, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.inbox.Find(c, bson.D{{Key: "app_id", Value: appID}, {Key: "user_id", Value: userID}, {Key: "mid", Value: bson.D{{Key: "$lt", Value: before}}}},
		options.Find().SetSort(bson.D{{Key: "mid", Value: -1}}).SetSkip(skip).SetLimit(int64(n)).SetProjection(bson.D{{Key: "mid", Value: 1}}))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var rows []inboxDoc
	if err := cur.All(c, &rows); err != nil {
		return nil, s.wrap(ctx, err)
	}
	return rows, nil
}

// records fetches the records of rows by mid.
func (s *Store) records(ctx context.Context, rows []inboxDoc) (map[string]store.Event, error) {
	out := make(map[string]store.Event, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	mids := make([]string, len(rows))
	for i, r := range rows {
		mids[i] = r.MID
	}
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.events.Find(c, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: mids}}}}, options.Find().SetProjection(eventFields))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var docs []eventDoc
	if err := cur.All(c, &docs); err != nil {
		return nil, s.wrap(ctx, err)
	}
	for _, d := range docs {
		out[d.MID] = d.event()
	}
	return out, nil
}

func (s *Store) LastSeq(ctx context.Context, appID, channel string) (int64, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	var seq struct {
		Last int64 `bson:"last"`
	}
	err := s.sequences.FindOne(c, bson.D{{Key: "_id", Value: seqID(chanKey{appID, channel})}}).Decode(&seq)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return seq.Last, s.wrap(ctx, err)
}

// OldestSeq reads the first entry of the channel's seq index.
func (s *Store) OldestSeq(ctx context.Context, appID, channel string) (int64, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	var d struct {
		Seq int64 `bson:"seq"`
	}
	err := s.events.FindOne(c, bson.D{{Key: "app_id", Value: appID}, {Key: "channel", Value: channel}},
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: 1}}).SetProjection(bson.D{{Key: "seq", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return d.Seq, s.wrap(ctx, err)
}

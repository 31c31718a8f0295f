package mongo

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// writeInbox writes the inbox rows of records, then marks them done.
// Rows already there (a retry, or a sweep racing a live node) are skipped
// by the unique (app_id, user_id, mid) index.
func (s *Store) writeInbox(ctx context.Context, records []eventDoc) error {
	if len(records) == 0 {
		return nil
	}
	var rows []any
	mids := make([]string, 0, len(records))
	for _, d := range records {
		for _, u := range d.InboxUsers {
			rows = append(rows, inboxDoc{AppID: d.AppID, UserID: u, MID: d.MID, Channel: d.Channel, Seq: d.Seq, TS: d.TS})
		}
		mids = append(mids, d.MID)
	}
	c, cancel := s.op(ctx)
	defer cancel()
	if len(rows) > 0 {
		if _, err := s.inbox.InsertMany(c, rows, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicates(err) {
			return err
		}
	}
	_, err := s.events.UpdateMany(c, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: mids}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "inbox_done", Value: true}}}, {Key: "$unset", Value: bson.D{{Key: "inbox_users", Value: ""}}}})
	return err
}

// onlyDuplicates reports whether every write error of err is a duplicate key.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !we.HasErrorCode(11000) {
			return false
		}
	}
	return true
}

// unwrite removes, as far as the server lets it, the records of a failed
// group and their inbox rows, rows first so none is left without a record.
func (s *Store) unwrite(mids []string) {
	c, cancel := s.op(context.Background())
	defer cancel()
	in := bson.D{{Key: "$in", Value: mids}}
	if _, err := s.inbox.DeleteMany(c, bson.D{{Key: "mid", Value: in}}); err != nil {
		return
	}
	s.events.DeleteMany(c, bson.D{{Key: "_id", Value: in}})
}

// sweepInbox completes the inbox rows of records a crash left at
// inbox_done=false (docs/features.md §5.4). Each record lists its recipients, so
// the rows written are exactly the ones the crash lost.
func (s *Store) sweepInbox(ctx context.Context) error {
	const page = 500
	for {
		c, cancel := s.op(ctx)
		cur, err := s.events.Find(c, bson.D{{Key: "inbox_done", Value: false}}, options.Find().SetLimit(page))
		var docs []eventDoc
		if err == nil {
			err = cur.All(c, &docs)
		}
		cancel()
		if err == nil {
			err = s.writeInbox(ctx, docs)
		}
		if err != nil {
			return s.wrap(ctx, err)
		}
		if len(docs) < page {
			return nil
		}
	}
}

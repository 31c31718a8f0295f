package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

type chanKey struct{ app, channel string }

// errSeqTaken: a record's seq was already stored, which the atomic $inc
// rules out on MongoDB but not on servers whose updates are not atomic
// (FerretDB v1 reads, modifies and writes back).
var errSeqTaken = errors.New("seq already taken")

// write stores reqs' records, retrying with fresh seqs when the unique
// (app_id, channel, seq) index finds one taken: that index, not the
// counter alone, is what guarantees a seq is stored once.
func (s *Store) write(reqs []*store.Pending) error {
	for try := 0; ; try++ {
		keys, err := s.writeOnce(reqs)
		if !errors.Is(err, errSeqTaken) {
			return err
		}
		if try == 9 {
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		if err := s.repairSeqs(keys); err != nil {
			return err
		}
	}
}

// repairSeqs raises each counter to at least the channel's highest
// stored seq, so the next allocation starts past every stored record.
func (s *Store) repairSeqs(keys []chanKey) error {
	ctx := context.Background()
	for _, k := range keys {
		c, cancel := s.op(ctx)
		var top eventDoc
		err := s.events.FindOne(c, bson.D{{Key: "app_id", Value: k.app}, {Key: "channel", Value: k.channel}},
			options.FindOne().SetSort(bson.D{{Key: "seq", Value: -1}}).SetProjection(bson.D{{Key: "seq", Value: 1}})).Decode(&top)
		if err == nil {
			_, err = s.sequences.UpdateOne(c, bson.D{{Key: "_id", Value: seqID(k)}}, bson.D{{Key: "$max", Value: bson.D{{Key: "last", Value: top.Seq}}}})
		}
		cancel()
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return s.wrap(ctx, err)
		}
	}
	return nil
}

// writeOnce stores reqs' records: seqs first (one $inc per channel for the
// whole group), then all records in one InsertMany, then the inbox rows.
// A failure after the records are in removes them again when it can, so a
// failed trigger leaves no history; records it cannot remove keep
// inbox_done=false and the next startup sweep completes them.
func (s *Store) writeOnce(reqs []*store.Pending) ([]chanKey, error) {
	ctx := context.Background() // a taken trigger is written or fails, whatever its caller does
	counts := map[chanKey]int64{}
	var keys []chanKey
	for _, r := range reqs {
		for _, ch := range r.Trigger.Channels {
			k := chanKey{r.Trigger.AppID, ch}
			if counts[k] == 0 {
				keys = append(keys, k)
			}
			counts[k]++
		}
	}
	next := make(map[chanKey]int64, len(keys))
	users := make(map[chanKey][]string, len(keys))
	for _, k := range keys {
		last, err := s.allocate(ctx, k, counts[k])
		if err != nil {
			return keys, err
		}
		next[k] = last - counts[k] + 1
		if users[k], err = s.recipients(ctx, k); err != nil {
			return keys, err
		}
	}
	var docs []any
	var pending []eventDoc
	var mids []string
	for _, r := range reqs {
		now := r.Trigger.Time
		if now.IsZero() {
			now = time.Now()
		}
		ts := now.Truncate(time.Millisecond)
		r.Out = make([]store.Event, 0, len(r.Trigger.Channels))
		reached := map[string]bool{}
		for _, ch := range r.Trigger.Channels {
			k := chanKey{r.Trigger.AppID, ch}
			e := store.Event{MID: store.NewMID(ts), AppID: r.Trigger.AppID, Channel: ch, Seq: next[k], Timestamp: ts,
				Event: r.Trigger.Event, Data: r.Trigger.Data, Source: r.Trigger.Source, SocketID: r.Trigger.SocketID, UserID: r.Trigger.UserID}
			next[k]++
			var to []string
			for _, u := range users[k] {
				if !reached[u] {
					reached[u] = true
					to = append(to, u)
				}
			}
			d := eventDoc{MID: e.MID, AppID: e.AppID, Channel: ch, Seq: e.Seq, TS: ts.UnixMilli(), Event: e.Event, Data: e.Data,
				Source: e.Source, SocketID: e.SocketID, UserID: e.UserID, InboxDone: len(to) == 0, InboxUsers: to}
			docs = append(docs, d)
			mids = append(mids, e.MID)
			if len(to) > 0 {
				pending = append(pending, d)
			}
			r.Out = append(r.Out, e)
		}
	}
	c, cancel := s.op(ctx)
	_, err := s.events.InsertMany(c, docs)
	cancel()
	if err != nil && isDuplicate(err) {
		s.unwrite(mids)
		return keys, errSeqTaken
	}
	if err == nil {
		err = s.writeInbox(ctx, pending)
	}
	if err != nil {
		s.unwrite(mids)
		return keys, s.wrap(ctx, err)
	}
	return keys, nil
}

// allocate adds n to the channel's counter in one atomic upsert and
// returns the new last seq: nodes sharing the database get disjoint
// ranges, and the counter outlives trimming.
func (s *Store) allocate(ctx context.Context, k chanKey, n int64) (int64, error) {
	var seq struct {
		Last int64 `bson:"last"`
	}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "last", Value: n}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "app_id", Value: k.app}, {Key: "channel", Value: k.channel}}},
	}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	var err error
	// Two first upserts of a channel can race to insert; the loser's
	// duplicate-key error means the counter now exists: increment it.
	for try := 0; try < 2; try++ {
		c, cancel := s.op(ctx)
		err = s.sequences.FindOneAndUpdate(c, bson.D{{Key: "_id", Value: seqID(k)}}, update, opts).Decode(&seq)
		cancel()
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	if err != nil {
		return 0, s.wrap(ctx, err)
	}
	return seq.Last, nil
}

func seqID(k chanKey) string { return k.app + "\x00" + k.channel }

// recipients are the users whose inbox an event on the channel reaches:
// the owner of a personal channel, and its followers.
func (s *Store) recipients(ctx context.Context, k chanKey) ([]string, error) {
	var users []string
	if owner, ok := strings.CutPrefix(k.channel, "personal-"); ok {
		users = append(users, owner)
	}
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.follows.Find(c, bson.D{{Key: "app_id", Value: k.app}, {Key: "channel", Value: k.channel}},
		options.Find().SetProjection(bson.D{{Key: "user_id", Value: 1}}))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var rows []followDoc
	if err := cur.All(c, &rows); err != nil {
		return nil, s.wrap(ctx, err)
	}
	for _, f := range rows {
		users = append(users, f.UserID)
	}
	return users, nil
}

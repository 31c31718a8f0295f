package mongo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func followKey(appID, userID, channel string) bson.D {
	return bson.D{{Key: "app_id", Value: appID}, {Key: "user_id", Value: userID}, {Key: "channel", Value: channel}}
}

// Follow enforces the per-user limit without a transaction or an atomic
// update: each of a user's follows holds a numbered slot, a new one the
// lowest free slot below max, and the unique (app_id, user_id, slot)
// index lets only one racing insert take a slot, on any node. The limit
// check reads at most max keys of that index (freeSlot), whatever the
// collection holds; the row itself is looked up only when the insert
// collides, so a new follow is one bounded read and one insert.
func (s *Store) Follow(ctx context.Context, f store.Follow, max int) (store.Follow, bool, error) {
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now()
	}
	f.CreatedAt = f.CreatedAt.Truncate(time.Second)
	for try := 0; try < 64; try++ {
		slot, err := s.freeSlot(ctx, f.AppID, f.UserID, max)
		if errors.Is(err, store.ErrTooManyFollows) {
			// A follow already there stays idempotent at the limit.
			existing, err := s.findFollow(ctx, f)
			if errors.Is(err, store.ErrNotFound) {
				return f, false, store.ErrTooManyFollows
			}
			return existing, false, err
		}
		if err != nil {
			return f, false, err
		}
		c, cancel := s.op(ctx)
		_, err = s.follows.InsertOne(c, followDoc{AppID: f.AppID, UserID: f.UserID, Channel: f.Channel, Created: f.CreatedAt.Unix(), Slot: slot})
		cancel()
		if err == nil {
			return f, true, nil
		}
		if !isDuplicate(err) {
			return f, false, s.wrap(ctx, err)
		}
		existing, err := s.findFollow(ctx, f)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return existing, false, err
		}
		// A racing follow took the slot: count again.
	}
	return f, false, fmt.Errorf("%w: follow kept racing", store.ErrUnavailable)
}

func (s *Store) findFollow(ctx context.Context, f store.Follow) (store.Follow, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	var d followDoc
	if err := s.follows.FindOne(c, followKey(f.AppID, f.UserID, f.Channel)).Decode(&d); err != nil {
		return f, s.wrap(ctx, err)
	}
	f.CreatedAt = time.Unix(d.Created, 0)
	return f, nil
}

// freeSlot is the limit check: ErrTooManyFollows when the user holds max
// follows or more, else the lowest slot the user's follows leave free
// (below max, since fewer than max are held). It reads the user's slots
// in index order, without _id and no more than max of them, so MongoDB
// answers from the (app_id, user_id, slot) index alone. It counts
// follows, not slots below max: follows made under a higher limit still
// count after the app's limit is lowered.
func (s *Store) freeSlot(ctx context.Context, appID, userID string, max int) (int, error) {
	if max <= 0 {
		return 0, store.ErrTooManyFollows
	}
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.follows.Find(c, bson.D{{Key: "app_id", Value: appID}, {Key: "user_id", Value: userID}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "slot", Value: 1}}).
			SetSort(bson.D{{Key: "slot", Value: 1}}).SetLimit(int64(max)))
	if err != nil {
		return 0, s.wrap(ctx, err)
	}
	var held []struct {
		Slot int `bson:"slot"`
	}
	if err := cur.All(c, &held); err != nil {
		return 0, s.wrap(ctx, err)
	}
	if len(held) >= max {
		return 0, store.ErrTooManyFollows
	}
	// Ascending and unique: the first slot that is not its position is
	// the lowest gap.
	for i, h := range held {
		if h.Slot != i {
			return i, nil
		}
	}
	return len(held), nil
}

func (s *Store) Unfollow(ctx context.Context, appID, userID, channel string) (bool, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	res, err := s.follows.DeleteOne(c, followKey(appID, userID, channel))
	if err != nil {
		return false, s.wrap(ctx, err)
	}
	return res.DeletedCount > 0, nil
}

func (s *Store) ListFollows(ctx context.Context, appID string, q store.FollowQuery) ([]store.Follow, string, error) {
	after, err := store.ParseFollowCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	filter := bson.D{{Key: "app_id", Value: appID}}
	if q.UserID != "" {
		filter = append(filter, bson.E{Key: "user_id", Value: q.UserID})
	}
	if q.Channel != "" {
		filter = append(filter, bson.E{Key: "channel", Value: q.Channel})
	}
	if q.Cursor != "" {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "user_id", Value: bson.D{{Key: "$gt", Value: after.UserID}}}},
			bson.D{{Key: "user_id", Value: after.UserID}, {Key: "channel", Value: bson.D{{Key: "$gt", Value: after.Channel}}}},
		}})
	}
	limit := clampLimit(q.Limit)
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.follows.Find(c, filter, options.Find().
		SetSort(bson.D{{Key: "user_id", Value: 1}, {Key: "channel", Value: 1}}).SetLimit(int64(limit+1)))
	if err != nil {
		return nil, "", s.wrap(ctx, err)
	}
	var docs []followDoc
	if err := cur.All(c, &docs); err != nil {
		return nil, "", s.wrap(ctx, err)
	}
	out := make([]store.Follow, 0, len(docs))
	for _, d := range docs {
		out = append(out, store.Follow{AppID: appID, UserID: d.UserID, Channel: d.Channel, CreatedAt: time.Unix(d.Created, 0)})
	}
	out, next := store.PageFollows(out, limit)
	return out, next, nil
}

// FollowedBy sorts in Go as well: byte order is the contract, whatever
// collation the server sorts with.
func (s *Store) FollowedBy(ctx context.Context, appID, userID string) ([]string, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.follows.Find(c, bson.D{{Key: "app_id", Value: appID}, {Key: "user_id", Value: userID}},
		options.Find().SetProjection(bson.D{{Key: "channel", Value: 1}}))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var docs []followDoc
	if err := cur.All(c, &docs); err != nil {
		return nil, s.wrap(ctx, err)
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.Channel)
	}
	sort.Strings(out)
	return out, nil
}

package mongo

import (
	"context"
	"errors"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Documents. Times are integer milliseconds (seconds for follows), as in
// the SQLite store, so they round-trip exactly.
type appDoc struct {
	ID         string `bson:"_id"`
	Key        string `bson:"key"`
	Name       string `bson:"name"`
	Body       string `bson:"body"` // the apps.App JSON: one encoding for every backend
	PrevSecret string `bson:"prev_secret"`
	PrevUntil  int64  `bson:"prev_valid_until_ms"`
	FromConfig bool   `bson:"from_config"`
}

// eventDoc is a record; its _id is the mid, which makes mids unique.
// InboxUsers lists who gets an inbox row while InboxDone is false, so the
// startup sweep rewrites exactly the rows the crash lost.
type eventDoc struct {
	MID        string   `bson:"_id"`
	AppID      string   `bson:"app_id"`
	Channel    string   `bson:"channel"`
	Seq        int64    `bson:"seq"`
	TS         int64    `bson:"ts"`
	Event      string   `bson:"event"`
	Data       string   `bson:"data"`
	Source     string   `bson:"source"`
	SocketID   string   `bson:"socket_id"`
	UserID     string   `bson:"user_id"`
	InboxDone  bool     `bson:"inbox_done"`
	InboxUsers []string `bson:"inbox_users,omitempty"`
}

type inboxDoc struct {
	AppID   string `bson:"app_id"`
	UserID  string `bson:"user_id"`
	MID     string `bson:"mid"`
	Channel string `bson:"channel"`
	Seq     int64  `bson:"seq"`
	TS      int64  `bson:"ts"`
}

type followDoc struct {
	AppID   string `bson:"app_id"`
	UserID  string `bson:"user_id"`
	Channel string `bson:"channel"`
	Created int64  `bson:"created_s"`
	Slot    int    `bson:"slot"` // one of the user's max places; see Follow
}

type index struct {
	name   string
	keys   bson.D
	unique bool
}

// indexes by collection. Records are unique by mid through their _id;
// meta is read by _id only; sequences are read by _id, deleted by app.
var indexes = map[string][]index{
	"apps": {
		{"key", bson.D{{Key: "key", Value: 1}}, true},
		{"name", bson.D{{Key: "name", Value: 1}}, true},
	},
	"follows": {
		{"app_user_channel", bson.D{{Key: "app_id", Value: 1}, {Key: "user_id", Value: 1}, {Key: "channel", Value: 1}}, true},
		{"app_channel", bson.D{{Key: "app_id", Value: 1}, {Key: "channel", Value: 1}}, false},
		{"app_user_slot", bson.D{{Key: "app_id", Value: 1}, {Key: "user_id", Value: 1}, {Key: "slot", Value: 1}}, true},
	},
	"sequences": {{"app", bson.D{{Key: "app_id", Value: 1}}, false}},
	"events": {
		{"app_channel_seq", bson.D{{Key: "app_id", Value: 1}, {Key: "channel", Value: 1}, {Key: "seq", Value: 1}}, true},
		{"app_ts", bson.D{{Key: "app_id", Value: 1}, {Key: "ts", Value: 1}}, false},
		{"inbox_done", bson.D{{Key: "inbox_done", Value: 1}}, false},
	},
	"inbox": {
		{"app_user_mid", bson.D{{Key: "app_id", Value: 1}, {Key: "user_id", Value: 1}, {Key: "mid", Value: 1}}, true},
		{"mid", bson.D{{Key: "mid", Value: 1}}, false},
	},
}

// createSchema creates the collections and indexes that are missing, so
// every node may run it at every start.
func (s *Store) createSchema(ctx context.Context) error {
	for _, name := range []string{"apps", "meta", "follows", "sequences", "events", "inbox"} {
		c, cancel := s.op(ctx)
		err := s.db.CreateCollection(c, name)
		cancel()
		var ce mongo.CommandError
		if err != nil && !(errors.As(err, &ce) && ce.HasErrorCode(48)) { // 48: NamespaceExists
			return s.wrap(ctx, err)
		}
		if err := s.createIndexes(ctx, s.db.Collection(name), indexes[name]); err != nil {
			return err
		}
	}
	return nil
}

// createIndexes creates the indexes not there yet, by name. Asking only
// for the missing ones also avoids FerretDB v1 failing (it drops the
// connection) on a createIndexes repeating an existing compound index.
func (s *Store) createIndexes(ctx context.Context, coll *mongo.Collection, want []index) error {
	c, cancel := s.op(ctx)
	defer cancel()
	specs, err := coll.Indexes().ListSpecifications(c)
	if err != nil {
		return s.wrap(ctx, err)
	}
	have := map[string]bool{}
	for _, sp := range specs {
		have[sp.Name] = true
	}
	var models []mongo.IndexModel
	for _, ix := range want {
		if !have[ix.name] {
			models = append(models, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name).SetUnique(ix.unique)})
		}
	}
	if len(models) == 0 {
		return nil
	}
	_, err = coll.Indexes().CreateMany(c, models)
	return s.wrap(ctx, err)
}

// seedMID makes this process's mids sort after every stored one, so a
// clock that stepped back cannot put new records before old ones.
func (s *Store) seedMID(ctx context.Context) error {
	c, cancel := s.op(ctx)
	defer cancel()
	var last struct {
		MID string `bson:"_id"`
	}
	err := s.events.FindOne(c, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&last)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return s.wrap(ctx, err)
	}
	store.SeedMID(last.MID)
	return nil
}

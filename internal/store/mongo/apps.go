package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func toAppDoc(a store.StoredApp) (appDoc, error) {
	body, err := json.Marshal(a.App)
	if err != nil {
		return appDoc{}, err
	}
	d := appDoc{ID: a.App.ID, Key: a.App.Key, Name: a.App.Name, Body: string(body), PrevSecret: a.PreviousSecret, FromConfig: a.FromConfig}
	if !a.PreviousValidUntil.IsZero() {
		d.PrevUntil = a.PreviousValidUntil.UnixMilli()
	}
	return d, nil
}

func fromAppDoc(d appDoc) (store.StoredApp, error) {
	var a store.StoredApp
	if err := json.Unmarshal([]byte(d.Body), &a.App); err != nil {
		return a, err
	}
	a.PreviousSecret, a.FromConfig = d.PrevSecret, d.FromConfig
	if d.PrevUntil != 0 {
		a.PreviousValidUntil = time.UnixMilli(d.PrevUntil)
	}
	return a, nil
}

func (s *Store) CreateApp(ctx context.Context, a store.StoredApp) error {
	d, err := toAppDoc(a)
	if err != nil {
		return err
	}
	c, cancel := s.op(ctx)
	defer cancel()
	_, err = s.apps.InsertOne(c, d)
	return s.wrap(ctx, err)
}

// PutApp replaces by id; the unique key and name indexes refuse taking
// another app's.
func (s *Store) PutApp(ctx context.Context, a store.StoredApp) error {
	d, err := toAppDoc(a)
	if err != nil {
		return err
	}
	c, cancel := s.op(ctx)
	defer cancel()
	_, err = s.apps.ReplaceOne(c, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	return s.wrap(ctx, err)
}

func (s *Store) App(ctx context.Context, id string) (store.StoredApp, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	var d appDoc
	if err := s.apps.FindOne(c, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return store.StoredApp{}, s.wrap(ctx, err)
	}
	return fromAppDoc(d)
}

func (s *Store) ListApps(ctx context.Context, after string, limit int) ([]store.StoredApp, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	cur, err := s.apps.Find(c, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(clampLimit(limit))))
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	var docs []appDoc
	if err := cur.All(c, &docs); err != nil {
		return nil, s.wrap(ctx, err)
	}
	out := make([]store.StoredApp, 0, len(docs))
	for _, d := range docs {
		a, err := fromAppDoc(d)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// DeleteApp removes what the app owns before the app itself: a delete cut
// short leaves the app in place, so retrying it finishes the cascade.
// Sequences go too, so a recreated app starts at seq 1.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	c, cancel := s.op(ctx)
	defer cancel()
	if err := s.apps.FindOne(c, bson.D{{Key: "_id", Value: id}}).Err(); err != nil {
		return s.wrap(ctx, err)
	}
	byApp := bson.D{{Key: "app_id", Value: id}}
	for _, coll := range []*mongo.Collection{s.inbox, s.events, s.sequences, s.follows} {
		if _, err := coll.DeleteMany(c, byApp); err != nil {
			return s.wrap(ctx, err)
		}
	}
	res, err := s.apps.DeleteOne(c, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return s.wrap(ctx, err)
	}
	if res.DeletedCount == 0 {
		return store.ErrNotFound // a concurrent delete won
	}
	return nil
}

func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	var d struct {
		Value string `bson:"value"`
	}
	err := s.meta.FindOne(c, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.wrap(ctx, err)
	}
	return d.Value, true, nil
}

// SetMetaIfAbsent inserts with $setOnInsert and reads back, so concurrent
// first writers (of any node) all return the one value stored.
func (s *Store) SetMetaIfAbsent(ctx context.Context, key, value string) (string, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	_, err := s.meta.UpdateOne(c, bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "value", Value: value}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // a racing upsert inserted first
		return "", s.wrap(ctx, err)
	}
	v, ok, err := s.Meta(ctx, key)
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	return v, err
}

// SwapMeta matches the old value in the update's filter: a racing swap
// finds nothing to update. Copies of old in MongoDB's own files (journal,
// oplog, backups) are the server's to manage.
func (s *Store) SwapMeta(ctx context.Context, key, old, value string) (bool, error) {
	c, cancel := s.op(ctx)
	defer cancel()
	res, err := s.meta.UpdateOne(c, bson.D{{Key: "_id", Value: key}, {Key: "value", Value: old}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "value", Value: value}}}})
	if err != nil {
		return false, s.wrap(ctx, err)
	}
	return res.ModifiedCount == 1, nil
}

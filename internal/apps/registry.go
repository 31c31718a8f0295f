package apps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"sync"
	"sync/atomic"
)

// Registry is where the server looks apps up. Lookups are on every
// connection and every API call, so they are lock-free reads of a snapshot.
type Registry interface {
	ByID(id string) *App
	ByKey(key string) *App
}

// Static is an in-memory registry. Every change publishes a new immutable
// snapshot, so a reader sees an app by id and by key from the same version
// and never waits for a writer.
type Static struct {
	mu   sync.Mutex // serialises writers only
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	byID  map[string]*App
	byKey map[string]*App
}

var _ Registry = (*Static)(nil)

// NewStatic validates and registers apps; ids and keys must be unique.
func NewStatic(list []App) (*Static, error) {
	snap := &snapshot{byID: map[string]*App{}, byKey: map[string]*App{}}
	for i := range list {
		a := list[i]
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if _, dup := snap.byID[a.ID]; dup {
			return nil, fmt.Errorf("app id %s appears twice", a.ID)
		}
		if _, dup := snap.byKey[a.Key]; dup {
			return nil, fmt.Errorf("app key %s appears twice", a.Key)
		}
		snap.byID[a.ID], snap.byKey[a.Key] = &a, &a
	}
	s := &Static{}
	s.snap.Store(snap)
	return s, nil
}

func (s *Static) ByID(id string) *App { return s.load().byID[id] }

func (s *Static) ByKey(key string) *App { return s.load().byKey[key] }

// load returns the current snapshot; a zero Static is an empty registry.
func (s *Static) load() *snapshot {
	if snap := s.snap.Load(); snap != nil {
		return snap
	}
	return &snapshot{}
}

// Put adds or replaces an app (same id; the key is immutable).
func (s *Static) Put(a App) error {
	if err := a.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.load()
	if old := cur.byID[a.ID]; old != nil && old.Key != a.Key {
		return fmt.Errorf("app %s: key is immutable", a.ID)
	}
	if other := cur.byKey[a.Key]; other != nil && other.ID != a.ID {
		return fmt.Errorf("app key %s is used by app %s", a.Key, other.ID)
	}
	next := cur.clone()
	next.byID[a.ID], next.byKey[a.Key] = &a, &a
	s.snap.Store(next)
	return nil
}

// Delete removes an app; it reports whether it was registered.
func (s *Static) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.load()
	old := cur.byID[id]
	if old == nil {
		return false
	}
	next := cur.clone()
	delete(next.byID, id)
	delete(next.byKey, old.Key)
	s.snap.Store(next)
	return true
}

// All returns every registered app.
func (s *Static) All() []*App {
	snap := s.load()
	out := make([]*App, 0, len(snap.byID))
	for _, a := range snap.byID {
		out = append(out, a)
	}
	return out
}

// clone copies the maps (not the apps, which are never mutated). Writes
// are rare (admin API, start), so copying beats locking every lookup.
func (s *snapshot) clone() *snapshot {
	next := &snapshot{byID: make(map[string]*App, len(s.byID)+1), byKey: make(map[string]*App, len(s.byKey)+1)}
	maps.Copy(next.byID, s.byID)
	maps.Copy(next.byKey, s.byKey)
	return next
}

// LoadFile reads a JSON apps file: {"apps":[…]} or a bare array. Missing
// settings take their defaults; unknown fields are refused so typos surface.
func LoadFile(path string) ([]App, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("PUSHI_APPS_FILE: %w", err)
	}
	return ParseApps(raw)
}

// ParseApps decodes the apps file format.
func ParseApps(raw []byte) ([]App, error) {
	raw = bytes.TrimSpace(raw)
	var items []json.RawMessage
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("apps file: %w", err)
		}
	} else {
		var doc struct {
			Apps []json.RawMessage `json:"apps"`
		}
		if err := strictUnmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("apps file: %w", err)
		}
		items = doc.Apps
	}
	out := make([]App, 0, len(items))
	for i, item := range items {
		a := Defaults()
		if err := strictUnmarshal(item, &a); err != nil {
			return nil, fmt.Errorf("apps file: app #%d: %w", i+1, err)
		}
		if a.Name == "" {
			a.Name = a.ID
		}
		if p := &a.WebPush; p.VAPIDPrivateKey != "" && p.VAPIDPublicKey == "" {
			// The public key is derived; Validate reports a bad private key.
			p.VAPIDPublicKey, _ = VAPIDPublicKey(p.VAPIDPrivateKey)
		}
		out = append(out, a)
	}
	return out, nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

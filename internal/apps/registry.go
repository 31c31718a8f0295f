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

// Registry is where the server looks apps up: the read side, all that
// the hub, the webhook dispatcher and the API's signed routes get. Lookups
// are on every connection and every API call, so they are lock-free reads
// of an immutable snapshot. The *App returned is shared: readers must not
// change it.
type Registry interface {
	ByID(id string) *App
	ByKey(key string) *App
}

// Lister is a Registry that also lists every app (retention walks them).
type Lister interface {
	Registry
	All() []*App
}

// Static is a fixed set of apps: built once by NewStatic and never changed,
// so it can be shared without locks. A zero Static is an empty registry.
type Static struct {
	byID  map[string]*App
	byKey map[string]*App
}

var (
	_ Lister = (*Static)(nil)
	_ Lister = (*Writable)(nil)
)

// NewStatic validates and registers apps; ids and keys must be unique.
func NewStatic(list []App) (*Static, error) {
	s := &Static{byID: map[string]*App{}, byKey: map[string]*App{}}
	for i := range list {
		a := list[i]
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if _, dup := s.byID[a.ID]; dup {
			return nil, fmt.Errorf("app id %s appears twice", a.ID)
		}
		if _, dup := s.byKey[a.Key]; dup {
			return nil, fmt.Errorf("app key %s appears twice", a.Key)
		}
		s.byID[a.ID], s.byKey[a.Key] = &a, &a
	}
	return s, nil
}

func (s *Static) ByID(id string) *App { return s.byID[id] }

func (s *Static) ByKey(key string) *App { return s.byKey[key] }

// All returns every registered app.
func (s *Static) All() []*App {
	out := make([]*App, 0, len(s.byID))
	for _, a := range s.byID {
		out = append(out, a)
	}
	return out
}

// with returns a copy of s without the app whose id is drop and with a
// (when not nil): the next version a writer publishes. Apps are never mutated, so copying the maps is enough; writes are rare
// (admin API, start), so copying beats locking every lookup.
func (s *Static) with(a *App, drop string) *Static {
	next := &Static{byID: make(map[string]*App, len(s.byID)+1), byKey: make(map[string]*App, len(s.byKey)+1)}
	maps.Copy(next.byID, s.byID)
	maps.Copy(next.byKey, s.byKey)
	if old := next.byID[drop]; old != nil {
		delete(next.byID, drop)
		delete(next.byKey, old.Key)
	}
	if a != nil {
		next.byID[a.ID], next.byKey[a.Key] = a, a
	}
	return next
}

// Writable is the registry that app management changes: the only type
// with Put and Delete, handed as such only to whoever may write (the
// server, which gives it to the admin API). Every change publishes a new
// Static, so a reader sees an app by id and by key from the same version
// and never waits for a writer. A zero Writable is an empty registry.
type Writable struct {
	mu  sync.Mutex // serialises writers only
	cur atomic.Pointer[Static]
}

// NewWritable validates and registers apps as NewStatic does.
func NewWritable(list []App) (*Writable, error) {
	s, err := NewStatic(list)
	if err != nil {
		return nil, err
	}
	w := &Writable{}
	w.cur.Store(s)
	return w, nil
}

func (w *Writable) ByID(id string) *App { return w.load().ByID(id) }

func (w *Writable) ByKey(key string) *App { return w.load().ByKey(key) }

// All returns every registered app.
func (w *Writable) All() []*App { return w.load().All() }

func (w *Writable) load() *Static {
	if s := w.cur.Load(); s != nil {
		return s
	}
	return &Static{}
}

// Put adds or replaces an app (same id; the key is immutable).
func (w *Writable) Put(a App) error {
	if err := a.Validate(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.load()
	if old := cur.byID[a.ID]; old != nil && old.Key != a.Key {
		return fmt.Errorf("app %s: key is immutable", a.ID)
	}
	if other := cur.byKey[a.Key]; other != nil && other.ID != a.ID {
		return fmt.Errorf("app key %s is used by app %s", a.Key, other.ID)
	}
	w.cur.Store(cur.with(&a, a.ID))
	return nil
}

// Delete removes an app; it reports whether it was registered.
func (w *Writable) Delete(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.load()
	if cur.byID[id] == nil {
		return false
	}
	w.cur.Store(cur.with(nil, id))
	return true
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

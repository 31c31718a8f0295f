package apps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// Registry is where the server looks apps up. Lookups are on every
// connection and every API call, so they are lock-free reads of a snapshot.
type Registry interface {
	ByID(id string) *App
	ByKey(key string) *App
}

// Static is an in-memory registry, replaced wholesale on change.
type Static struct {
	mu    sync.Mutex // serialises writers only
	byID  sync.Map   // id → *App
	byKey sync.Map   // key → *App
}

var _ Registry = (*Static)(nil)

// NewStatic validates and registers apps; ids and keys must be unique.
func NewStatic(list []App) (*Static, error) {
	s := &Static{}
	seenKey := map[string]bool{}
	for i := range list {
		a := list[i]
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if _, dup := s.byID.Load(a.ID); dup {
			return nil, fmt.Errorf("app id %s appears twice", a.ID)
		}
		if seenKey[a.Key] {
			return nil, fmt.Errorf("app key %s appears twice", a.Key)
		}
		seenKey[a.Key] = true
		s.byID.Store(a.ID, &a)
		s.byKey.Store(a.Key, &a)
	}
	return s, nil
}

func (s *Static) ByID(id string) *App {
	if v, ok := s.byID.Load(id); ok {
		return v.(*App)
	}
	return nil
}

func (s *Static) ByKey(key string) *App {
	if v, ok := s.byKey.Load(key); ok {
		return v.(*App)
	}
	return nil
}

// Put adds or replaces an app (same id; the key is immutable).
func (s *Static) Put(a App) error {
	if err := a.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.ByID(a.ID); old != nil && old.Key != a.Key {
		return fmt.Errorf("app %s: key is immutable", a.ID)
	}
	if other := s.ByKey(a.Key); other != nil && other.ID != a.ID {
		return fmt.Errorf("app key %s is used by app %s", a.Key, other.ID)
	}
	s.byID.Store(a.ID, &a)
	s.byKey.Store(a.Key, &a)
	return nil
}

// All returns every registered app.
func (s *Static) All() []*App {
	var out []*App
	s.byID.Range(func(_, v any) bool { out = append(out, v.(*App)); return true })
	return out
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
		out = append(out, a)
	}
	return out, nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

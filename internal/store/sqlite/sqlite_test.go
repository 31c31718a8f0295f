package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "pushi.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen: what was written is there after closing and reopening the
// file, and migrating an up-to-date file again is harmless.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "pushi.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "c"}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Data: "d", Source: "api"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil); err == nil {
		t.Fatal("Append after Close must fail")
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _, err := s.Events(ctx, "1", "c", store.EventQuery{Limit: 10}); err != nil || len(got) != 1 || got[0].Data != "d" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	if in, _, _ := s.Inbox(ctx, "1", "u", store.InboxQuery{Limit: 10}); len(in) != 1 {
		t.Fatalf("inbox after reopen: %+v", in)
	}
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil)
	if err != nil || out[0].Seq != 2 {
		t.Fatalf("seq continues after reopen: %+v %v", out, err)
	}
}

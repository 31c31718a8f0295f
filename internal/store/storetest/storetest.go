// Package storetest is the contract every store.Store backend must pass.
// It tests behaviour through the interface only, so SQLite and MongoDB
// are held to the same rules.
package storetest

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/store"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole contract, each subtest on its own fresh store.
func Run(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Apps", testApps},
		{"AppConflicts", testAppConflicts},
		{"AppPaging", testAppPaging},
		{"Meta", testMeta},
		{"Follows", testFollows},
		{"FollowLimit", testFollowLimit},
		{"ConcurrentFollows", testConcurrentFollows},
		{"FollowPaging", testFollowPaging},
		{"AppendAndRead", testAppendAndRead},
		{"ConcurrentSequences", testConcurrentSequences},
		{"ConcurrentMultiChannel", testConcurrentMultiChannel},
		{"MIDs", testMIDs},
		{"EventPaging", testEventPaging},
		{"Inbox", testInbox},
		{"InboxFirstChannel", testInboxFirstChannel},
		{"InboxPaging", testInboxPaging},
		{"Trim", testTrim},
		{"TrimZeroCaps", testTrimZeroCaps},
		{"DeleteAppCascades", testDeleteAppCascades},
		{"CanceledAppend", testCanceledAppend},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			c.fn(t, s)
		})
	}
}

var ctx = context.Background()

func newApp(id, name string) store.StoredApp {
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = id, "key-"+id, "secret-"+id, name
	return store.StoredApp{App: a}
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// trigger is an API trigger on channels with a given event name.
func trigger(app, event string, channels ...string) store.Trigger {
	return store.Trigger{AppID: app, Channels: channels, Event: event, Data: "{}", Source: "api"}
}

// mustAppend appends and fails the test on error.
func mustAppend(t *testing.T, s store.Store, tr store.Trigger) []store.Event {
	t.Helper()
	out, err := s.Append(ctx, tr, nil)
	if err != nil {
		t.Fatalf("Append %v: %v", tr.Channels, err)
	}
	return out
}

func mustFollow(t *testing.T, s store.Store, app, user, channel string) {
	t.Helper()
	if _, _, err := s.Follow(ctx, store.Follow{AppID: app, UserID: user, Channel: channel}, 1000); err != nil {
		t.Fatalf("Follow %s → %s: %v", user, channel, err)
	}
}

// seqs lists the records' seqs.
func seqs(events []store.Event) []int64 {
	out := make([]int64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

// names lists the records' event names.
func names(events []store.Event) string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Event
	}
	return fmt.Sprint(out)
}

// all reads a channel's retained records oldest first.
func all(t *testing.T, s store.Store, app, channel string) []store.Event {
	t.Helper()
	out, more, err := s.Events(ctx, app, channel, store.EventQuery{Forward: true, Limit: 1000})
	if err != nil || more {
		t.Fatalf("Events %s/%s: more=%v err=%v", app, channel, more, err)
	}
	return out
}

// inbox reads a user's visible inbox newest first.
func inbox(t *testing.T, s store.Store, app, user string) []store.Event {
	t.Helper()
	out, more, err := s.Inbox(ctx, app, user, store.InboxQuery{Limit: 1000})
	if err != nil || more {
		t.Fatalf("Inbox %s/%s: more=%v err=%v", app, user, more, err)
	}
	return out
}

// sameRecord compares what Append returned with what a read returned.
func sameRecord(a, b store.Event) bool {
	return a.MID == b.MID && a.AppID == b.AppID && a.Channel == b.Channel && a.Seq == b.Seq && a.Timestamp.Equal(b.Timestamp) &&
		a.Event == b.Event && a.Data == b.Data && a.Source == b.Source && a.SocketID == b.SocketID && a.UserID == b.UserID
}

// future is far enough ahead that no record written by a test is newer.
func future() time.Time { return time.Now().Add(24 * time.Hour) }

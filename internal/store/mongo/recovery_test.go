package mongo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/testkit"
	"github.com/pushi-io/pushi/internal/testkit/ferret"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSweepAndSeed plays a crash between a record and its inbox rows: a
// record left at inbox_done=false, with a mid ahead of this process's
// clock. Open must write its rows and make later mids sort after it.
func TestSweepAndSeed(t *testing.T) {
	db := freshDB()
	s := openTest(t, db)
	ctx := context.Background()
	ms := time.Now().Add(time.Minute).UnixMilli()
	mid := fmt.Sprintf("%08x-%04x-7fff-8000-000000000000", ms>>16, ms&0xffff)
	crashed := eventDoc{MID: mid, AppID: "1", Channel: "news", Seq: 1, TS: ms, Event: "lost", Data: "{}", Source: "api",
		InboxUsers: []string{"ann", "bob"}}
	if _, err := s.events.InsertOne(ctx, crashed); err != nil {
		t.Fatal(err)
	}
	// bob's row made it before the crash; ann's did not.
	if _, err := s.inbox.InsertOne(ctx, inboxDoc{AppID: "1", UserID: "bob", MID: mid, Channel: "news", Seq: 1, TS: ms}); err != nil {
		t.Fatal(err)
	}
	if got := inboxNames(t, s, "ann"); got != "[]" {
		t.Fatalf("before the sweep ann has %s", got)
	}
	restarted := openTest(t, db)
	for _, u := range []string{"ann", "bob"} {
		if got := inboxNames(t, restarted, u); got != "[lost]" {
			t.Fatalf("after the sweep %s has %s, want [lost]", u, got)
		}
	}
	var d eventDoc
	if err := restarted.events.FindOne(ctx, bson.D{{Key: "_id", Value: mid}}).Decode(&d); err != nil || !d.InboxDone || d.InboxUsers != nil {
		t.Fatalf("swept record: %+v %v, want inbox_done and no recipients left", d, err)
	}
	out, err := restarted.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"news"}, Event: "next", Source: "api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].MID <= mid {
		t.Fatalf("new mid %s does not sort after the stored %s", out[0].MID, mid)
	}
}

func inboxNames(t *testing.T, s *Store, user string) string {
	t.Helper()
	evs, _, err := s.Inbox(context.Background(), "1", user, store.InboxQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range evs {
		names = append(names, e.Event)
	}
	return fmt.Sprint(names)
}

// TestUnreachable: with no server, Open fails with ErrUnavailable within
// its timeout instead of hanging.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = OpenWith(context.Background(), "mongodb://"+addr+"/", "x", Options{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open with no server: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open with no server took %v", d)
	}
}

// TestServerGone: a store whose server stops answering reports
// ErrUnavailable from reads, writes and Ping within its timeout.
func TestServerGone(t *testing.T) {
	// A proxy in front of FerretDB that can be cut.
	proxy := testkit.StartProxy(t, strings.TrimPrefix(ferret.Shared(t), "mongodb://"))
	s, err := OpenWith(context.Background(), "mongodb://"+proxy.Addr()+"/", freshDB(), Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	start := time.Now()
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Append: %v", err)
	}
	if _, _, err := s.Events(ctx, "1", "c", store.EventQuery{Limit: 10}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Events: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("three operations on a gone server took %v", d)
	}
}

// TestCounterBehind plays a lost increment (FerretDB's updates are not
// atomic): the counter is set back below stored records. The unique seq
// index must refuse the reused seqs and the append land after them.
func TestCounterBehind(t *testing.T) {
	s := openTest(t, freshDB())
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c", "d"}, Event: "e", Source: "api"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.sequences.UpdateOne(ctx, bson.D{{Key: "_id", Value: seqID(chanKey{"1", "c"})}}, bson.D{{Key: "$set", Value: bson.D{{Key: "last", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c", "d"}, Event: "after", Source: "api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Seq != 4 {
		t.Fatalf("append after the counter fell back got seq %d on c, want 4", out[0].Seq)
	}
	if out[1].Seq <= 3 {
		t.Fatalf("seq %d on d reuses a stored one", out[1].Seq)
	}
	evs, _, err := s.Events(ctx, "1", "c", store.EventQuery{Forward: true, Limit: 100})
	if err != nil || fmt.Sprint(seqsOf(evs)) != "[1 2 3 4]" || evs[3].Event != "after" {
		t.Fatalf("channel c: %v %v", seqsOf(evs), err)
	}
	if last, _ := s.LastSeq(ctx, "1", "c"); last != 4 {
		t.Fatalf("LastSeq = %d, want 4", last)
	}
}

func seqsOf(evs []store.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

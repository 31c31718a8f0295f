package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/mongo"
	"github.com/pushi-io/pushi/internal/store/sqlite"
	"github.com/pushi-io/pushi/internal/testkit/ferret"
)

func runCopy(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = storeMain(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestStoreCopy: sqlite → mongodb → sqlite through the command, with the
// counts it prints and a spot check of what arrived at each end.
func TestStoreCopy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s, err := sqlite.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = "1", "k", "s", "one"
	if err := s.CreateApp(ctx, store.StoredApp{App: a, PreviousSecret: "old", PreviousValidUntil: time.UnixMilli(1_900_000_000_000), FromConfig: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMetaIfAbsent(ctx, "admin_token", "tok"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "ann", Channel: "c"}, 10); err != nil {
		t.Fatal(err)
	}
	var mids []string
	for i := 0; i < 3; i++ {
		out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Data: "d", Source: "api"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		mids = append(mids, out[0].MID)
	}
	s.Close()

	uri := ferret.Start(t)
	const counts = "copied apps 1, meta 1, follows 1, sequences 1, events 3, inbox 3\n"
	if code, out, errOut := runCopy(t, "copy", "--from", "sqlite://"+src, "--to", uri+"/moved"); code != 0 || out != counts {
		t.Fatalf("sqlite → mongodb: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	m, err := mongo.Open(ctx, uri+"/moved", "moved")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.App(ctx, "1"); err != nil || got.PreviousSecret != "old" || !got.FromConfig {
		t.Fatalf("app in MongoDB: %+v %v", got, err)
	}
	if in, _, err := m.Inbox(ctx, "1", "ann", store.InboxQuery{Limit: 10}); err != nil || len(in) != 3 || in[0].MID != mids[2] || in[2].MID != mids[0] {
		t.Fatalf("inbox in MongoDB: %+v %v", in, err)
	}
	m.Close()

	// Back, to a relative path (its directory is created).
	t.Chdir(dir)
	back := filepath.Join("sub", "back.db")
	if code, out, errOut := runCopy(t, "copy", "--from", uri+"/moved", "--to", "sqlite://"+back); code != 0 || out != counts {
		t.Fatalf("mongodb → sqlite: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	b, err := sqlite.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, ok, err := b.Meta(ctx, "admin_token"); v != "tok" || !ok || err != nil {
		t.Fatalf("meta back in SQLite: %q %v %v", v, ok, err)
	}
	out, err := b.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil)
	if err != nil || out[0].Seq != 4 || out[0].MID <= mids[2] {
		t.Fatalf("append after the round trip: %+v %v", out, err)
	}

	// A non-empty target is refused and left alone.
	if code, _, errOut := runCopy(t, "copy", "--from", "sqlite://"+src, "--to", uri+"/moved"); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("copy into a non-empty target: exit %d, stderr %q", code, errOut)
	}
}

func TestStoreCopyUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "usage"},
		{[]string{"copy", "--from", "sqlite://a.db"}, 2, "usage"},
		{[]string{"copy", "--from", "sqlite://a.db", "--to", "sqlite://a.db"}, 2, "same store"},
		{[]string{"copy", "--from", "postgres://x", "--to", "sqlite://b.db"}, 1, "want sqlite://"},
		{[]string{"copy", "--from", "sqlite://" + filepath.Join(dir, "missing.db"), "--to", "sqlite://" + filepath.Join(dir, "b.db")}, 1, "no such file"},
	} {
		code, _, errOut := runCopy(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !os.IsNotExist(err) {
		t.Error("a missing source file must not be created")
	}
}

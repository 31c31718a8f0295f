package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/storetest"
)

var ctx = context.Background()

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenWith(path, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "pushi.db"))
	})
}

// fill writes one of everything the store keeps.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	a := apps.Defaults()
	a.ID, a.Key, a.Secret, a.Name = "1", "k", "s", "one"
	if err := s.CreateApp(ctx, store.StoredApp{App: a, PreviousSecret: "p", PreviousValidUntil: time.UnixMilli(1_900_000_000_000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMetaIfAbsent(ctx, "admin_token", "tok"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Follow(ctx, store.Follow{AppID: "1", UserID: "u", Channel: "c"}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Data: "d", Source: "api"}, nil); err != nil {
		t.Fatal(err)
	}
}

// check finds everything fill wrote, and that the sequence continues.
func check(t *testing.T, s store.Store) {
	t.Helper()
	if a, err := s.App(ctx, "1"); err != nil || a.App.Name != "one" || a.PreviousSecret != "p" || a.PreviousValidUntil.UnixMilli() != 1_900_000_000_000 {
		t.Fatalf("app: %+v %v", a, err)
	}
	if v, ok, err := s.Meta(ctx, "admin_token"); v != "tok" || !ok || err != nil {
		t.Fatalf("meta: %q %v %v", v, ok, err)
	}
	if f, err := s.FollowedBy(ctx, "1", "u"); err != nil || len(f) != 1 {
		t.Fatalf("follows: %v %v", f, err)
	}
	if got, _, err := s.Events(ctx, "1", "c", store.EventQuery{Limit: 10}); err != nil || len(got) != 1 || got[0].Data != "d" {
		t.Fatalf("events: %+v %v", got, err)
	}
	if in, _, err := s.Inbox(ctx, "1", "u", store.InboxQuery{Limit: 10}); err != nil || len(in) != 1 {
		t.Fatalf("inbox: %+v %v", in, err)
	}
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil)
	if err != nil || out[0].Seq != 2 {
		t.Fatalf("seq continues: %+v %v", out, err)
	}
}

// TestReopen: what was written is there after closing and reopening the
// file (the directory is created on the way), and migrating an
// up-to-date file again is harmless.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "pushi.db")
	s := open(t, path)
	fill(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("a second Close must be harmless:", err)
	}
	if _, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api"}, nil); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Append after Close: %v, want ErrUnavailable", err)
	}
	if _, err := s.App(ctx, "1"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read after Close: %v, want ErrUnavailable", err)
	}
	s = open(t, path)
	defer s.Close()
	check(t, s)
	var version int
	if err := s.r.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("user_version = %d %v, want %d", version, err, len(migrations))
	}
}

// TestCrashImage: the database and its WAL as they are on disk while the
// store is open (what a kill -9 leaves) hold every returned write.
func TestCrashImage(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "pushi.db"))
	defer s.Close()
	fill(t, s)
	crashed := filepath.Join(t.TempDir(), "pushi.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, "pushi.db"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, crashed)
	defer c.Close()
	check(t, c)
}

// TestMigrateFromV1: a file made by the first schema is brought up to
// date with its rows, and reads use the new index.
func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pushi.db")
	db, err := sql.Open("sqlite", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO events VALUES ('1', 'c', 1, '01914c5e-7d2a-7b3c-9f10-2b7e8c1d4a55', 1719580393127, 'e', 'd', 'api', '', '')`,
		`INSERT INTO sequences VALUES ('1', 'c', 1)`,
		`INSERT INTO inbox (app_id, user_id, mid, channel, seq, ts_ms) VALUES ('1', 'u', '01914c5e-7d2a-7b3c-9f10-2b7e8c1d4a55', 'c', 1, 1719580393127)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	s := open(t, path)
	defer s.Close()
	var version int
	if err := s.r.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("user_version = %d %v", version, err)
	}
	in, _, err := s.Inbox(ctx, "1", "u", store.InboxQuery{Limit: 10})
	if err != nil || len(in) != 1 || in[0].MID != "01914c5e-7d2a-7b3c-9f10-2b7e8c1d4a55" || in[0].Timestamp.UnixMilli() != 1719580393127 {
		t.Fatalf("inbox after migration: %+v %v", in, err)
	}
	var plan strings.Builder
	rows, err := s.r.Query(`EXPLAIN QUERY PLAN SELECT mid FROM inbox WHERE app_id = ? AND user_id = ? AND mid < ? ORDER BY mid DESC`, "1", "u", "~")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		plan.WriteString(detail + "\n")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "inbox_by_user_mid") || strings.Contains(plan.String(), "TEMP B-TREE") {
		t.Fatalf("inbox read plan:\n%s", plan.String())
	}
}

// TestNewerSchemaRefused: a file from a newer pushi is not touched.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pushi.db")
	s := open(t, path)
	if _, err := s.w.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestOpenSeedsMIDs: mids made after Open sort after every stored one,
// even if the clock is behind the newest stored mid.
func TestOpenSeedsMIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pushi.db")
	s := open(t, path)
	// Made by hand, 2 s ahead: this process's generator never saw it.
	ms := fmt.Sprintf("%012x", time.Now().Add(2*time.Second).UnixMilli())
	ahead := ms[:8] + "-" + ms[8:] + "-7fff-8000-000000000000"
	if _, err := s.w.Exec(`INSERT INTO events VALUES ('1', 'c', 1, ?, 0, 'e', 'd', 'api', '', '')`, ahead); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`INSERT INTO sequences VALUES ('1', 'c', 1)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	out, err := s.Append(ctx, store.Trigger{AppID: "1", Channels: []string{"c"}, Event: "e", Source: "api", Time: time.Now()}, nil)
	if err != nil || out[0].MID <= ahead {
		t.Fatalf("mid %v %v after reopening a file holding %s", out, err, ahead)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(file, "pushi.db")); err == nil || !strings.Contains(err.Error(), "store directory") {
		t.Fatalf("Open under a file: %v", err)
	}
	if _, err := Open(file); err == nil {
		t.Fatal("Open of a file that is not a database must fail")
	}
}

// TestPragmas: every connection, writer and readers, runs in WAL mode with
// synchronous=FULL (2): what makes a returned Append durable.
func TestPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "pushi.db"))
	defer s.Close()
	for name, db := range map[string]*sql.DB{"writer": s.w, "reader": s.r} {
		var mode string
		var sync, timeout int
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("%s journal_mode = %q %v", name, mode, err)
		}
		if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
			t.Fatalf("%s synchronous = %d %v, want 2 (FULL)", name, sync, err)
		}
		if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout < 1000 {
			t.Fatalf("%s busy_timeout = %d %v", name, timeout, err)
		}
	}
	if _, err := s.r.Exec(`DELETE FROM meta`); err == nil {
		t.Fatal("the read pool must be read-only")
	}
}

// TestSwapMetaLeavesNoCopy: a swapped-out secret is in neither the
// database file nor the WAL, whether it was checkpointed into the file
// or only in the WAL, even when the new value is shorter and would not
// cover the old row's bytes.
func TestSwapMetaLeavesNoCopy(t *testing.T) {
	const secret = "a-secret-of-some-length-0123456789abcdef0123456789abcdef"
	for _, checkpointed := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "pushi.db")
		s := open(t, path)
		if _, err := s.SetMetaIfAbsent(ctx, "other", "kept"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetMetaIfAbsent(ctx, "k", secret); err != nil {
			t.Fatal(err)
		}
		if checkpointed {
			s.Close()
			s = open(t, path)
		}
		if ok, err := s.SwapMeta(ctx, "k", secret, "short"); !ok || err != nil {
			t.Fatalf("swap: %v %v", ok, err)
		}
		for _, suffix := range []string{"", "-wal"} {
			b, _ := os.ReadFile(path + suffix)
			for _, part := range []string{secret[:16], secret[len(secret)-16:]} {
				if strings.Contains(string(b), part) {
					t.Errorf("checkpointed %v: %q of the old value is in %s", checkpointed, part, path+suffix)
				}
			}
		}
		if v, _, _ := s.Meta(ctx, "other"); v != "kept" {
			t.Fatalf("other key: %q", v)
		}
		s.Close()
	}
}

// TestFileModes: the store's files and the directories it creates are
// the owner's only; a directory that existed keeps its mode, and files
// found looser are tightened.
func TestFileModes(t *testing.T) {
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "a", "b", "pushi.db")
	s := open(t, path)
	fill(t, s)
	want := map[string]os.FileMode{parent: 0o755, filepath.Join(parent, "a"): 0o700, filepath.Dir(path): 0o700,
		path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for p, mode := range want {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, mode)
		}
	}
	// The crash image of a store made with loose modes.
	loose := filepath.Join(t.TempDir(), "pushi.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(loose+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	c := open(t, loose)
	defer c.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(loose + suffix); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", loose+suffix, fi.Mode().Perm(), err)
		}
	}
}

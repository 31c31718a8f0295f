package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushi-io/pushi/internal/store"
	mongostore "github.com/pushi-io/pushi/internal/store/mongo"
	"github.com/pushi-io/pushi/internal/store/sqlite"
)

// The SQLite store holds every app secret: after a real start its file,
// WAL and shared-memory file, the JSON-log credentials file and the
// directories pushi created are the owner's alone, while a directory
// that existed keeps its mode.
func TestStoreFilesOwnerOnly(t *testing.T) {
	if mongoMode {
		t.Skip("the files are the SQLite store's")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o755); err != nil { // the operator's directory
		t.Fatal(err)
	}
	db := filepath.Join(parent, "data", "pushi", "pushi.db")
	cfg := mustConfig(t, map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": db, "LOG_FORMAT": "json"})
	launch(t, cfg, discardLogger())
	want := map[string]fs.FileMode{
		parent:                        0o755,
		filepath.Join(parent, "data"): 0o700,
		filepath.Dir(db):              0o700,
		db:                            0o600,
		db + "-wal":                   0o600,
		db + "-shm":                   0o600,
		filepath.Join(filepath.Dir(db), credentialsFile): 0o600,
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), mode)
		}
	}
}

// A store file an earlier pushi left readable by others is restricted to
// its owner at start, with a warning naming it.
func TestLooseStoreFileTightened(t *testing.T) {
	if mongoMode {
		t.Skip("the files are the SQLite store's")
	}
	db := filepath.Join(t.TempDir(), "pushi.db")
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	_, logs, _ := runServer(t, map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": db})
	for _, p := range []string{db, db + "-wal"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after start: %v %v, want mode 0600", p, fi.Mode().Perm(), err)
		}
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "file="+db) || !strings.Contains(out, "was=-rw-r--r--") {
		t.Fatalf("no warning names the tightened file:\n%s", out)
	}
}

// tokenHash is how the store keeps an admin token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// notInFiles fails if secret is anywhere in the SQLite store's files.
func notInFiles(t *testing.T, db, secret string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(db + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the token is in %s (%d bytes)", db+suffix, len(b))
		}
	}
}

// The generated admin token is shown once and works, but the store keeps
// only its SHA-256: neither the meta value nor any byte of the files is
// the token, and the stored value is not a token either. A configured
// token is never stored.
func TestAdminTokenStoredAsHash(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pushi.db")
	s, logs, stop := runServer(t, map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": db})
	token, ok := s.adminTokenFromLog(logs.String())
	if !ok {
		t.Fatalf("no generated token in the log:\n%s", logs)
	}
	if !mongoMode {
		notInFiles(t, db, token)
	}
	stored, found, err := s.Store.Meta(context.Background(), "admin_token")
	if err != nil || !found || stored != tokenHash(token) {
		t.Fatalf("stored admin_token = %q (found %v, %v), want %q", stored, found, err, tokenHash(token))
	}
	s.adminCallWith(t, token, "GET", "/apps", "", http.StatusOK)
	s.adminCallWith(t, stored, "GET", "/apps", "", http.StatusUnauthorized)
	s.adminCallWith(t, strings.TrimPrefix(stored, "sha256:"), "GET", "/apps", "", http.StatusUnauthorized)
	stop()

	configured := filepath.Join(t.TempDir(), "pushi.db")
	s, _, _ = runServer(t, map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": configured, "PUSHI_ADMIN_TOKEN": testAdminToken})
	if v, found, err := s.Store.Meta(context.Background(), "admin_token"); found || err != nil {
		t.Fatalf("a configured token was stored: %q %v", v, err)
	}
	if !mongoMode {
		notInFiles(t, configured, testAdminToken)
	}
}

// A store written by an older pushi holds the generated token itself: the
// first start replaces it by its hash, the token keeps working, and no
// copy of it is left in the files, whether it was checkpointed into the
// database file (closed) or still in the WAL (crashed). With a configured
// token the stored one is hashed all the same.
func TestLegacyPlaintextTokenMigrates(t *testing.T) {
	const legacy = "4f1c2a9b7d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
	for _, c := range []struct {
		name       string
		crashed    bool
		configured bool
	}{{"closed", false, false}, {"crashed", true, false}, {"configured", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			if mongoMode && c.crashed {
				t.Skip("the files are the SQLite store's")
			}
			db := filepath.Join(t.TempDir(), "pushi.db")
			vars := map[string]string{"APP_PORT": "0", "SERVER_PORT": "0", "PUSHI_DB": db}
			if c.configured {
				vars["PUSHI_ADMIN_TOKEN"] = testAdminToken
			}
			withTestStore(t, vars)
			writeLegacyToken(t, vars, c.crashed, legacy)

			s, _, stop := runServer(t, vars)
			if c.configured {
				s.adminCallWith(t, testAdminToken, "GET", "/apps", "", http.StatusOK)
				s.adminCallWith(t, legacy, "GET", "/apps", "", http.StatusUnauthorized)
			} else {
				s.adminCallWith(t, legacy, "GET", "/apps", "", http.StatusOK)
			}
			if !mongoMode {
				notInFiles(t, db, legacy)
			}
			if v, _, err := s.Store.Meta(context.Background(), "admin_token"); err != nil || v != tokenHash(legacy) {
				t.Fatalf("stored admin_token after start = %q %v, want the hash %q", v, err, tokenHash(legacy))
			}
			stop()
			if c.configured {
				return
			}
			s, _, _ = runServer(t, vars) // the hash is what later starts read
			s.adminCallWith(t, legacy, "GET", "/apps", "", http.StatusOK)
		})
	}
}

// writeLegacyToken stores token the way pushi did before hashing it:
// verbatim under admin_token. crashed copies the files of the open store,
// as a killed process leaves them, with the token in the WAL only;
// otherwise the store is closed, which checkpoints the token into the
// database file. Either way the test checks the token is there to find.
func writeLegacyToken(t *testing.T, vars map[string]string, crashed bool, token string) {
	t.Helper()
	ctx := context.Background()
	db, open := vars["PUSHI_DB"], vars["PUSHI_DB"]
	if crashed {
		open = filepath.Join(t.TempDir(), "pushi.db")
	}
	var st store.Store
	var err error
	if mongoMode {
		st, err = mongostore.Open(ctx, vars["MONGO_URL"], vars["MONGO_DB"])
	} else {
		st, err = sqlite.Open(open)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetMetaIfAbsent(ctx, "admin_token", token); err != nil {
		t.Fatal(err)
	}
	if crashed {
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(open + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(db+suffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if mongoMode {
		return
	}
	wal, _ := os.ReadFile(db + "-wal")
	file, _ := os.ReadFile(db)
	if inWAL, inFile := bytes.Contains(wal, []byte(token)), bytes.Contains(file, []byte(token)); inWAL != crashed || inFile == crashed {
		t.Fatalf("legacy store set-up: token in the WAL %v, in the file %v; want it only in the %s", inWAL, inFile, map[bool]string{true: "WAL", false: "file"}[crashed])
	}
}

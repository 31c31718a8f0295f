package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pushi-io/pushi/internal/store"
	"github.com/pushi-io/pushi/internal/store/mongo"
	"github.com/pushi-io/pushi/internal/store/sqlite"
)

// runStore is `pushi store copy --from URL --to URL`: the one-way move
// between the embedded SQLite file and MongoDB (docs/storage.md).
func runStore(args []string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := storeMain(ctx, args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const storeUsage = `usage: pushi store copy --from URL --to URL
URLs: sqlite://<path> (relative or absolute) or mongodb://<host>/<db> (db default "pushi").
Copies every app, meta value, follow, event, sequence and inbox row into an
empty target. Stop pushi first when the source is MongoDB.`

func storeMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(stderr, storeUsage)
		return 2
	}
	fs := flag.NewFlagSet("pushi store copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source store URL")
	to := fs.String("to", "", "target store URL (must be empty)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, storeUsage)
		return 2
	}
	if *from == *to {
		fmt.Fprintln(stderr, "pushi store copy: --from and --to are the same store")
		return 2
	}
	counts, err := copyStores(ctx, *from, *to)
	if err != nil {
		fmt.Fprintln(stderr, "pushi store copy:", err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %s\n", counts)
	return 0
}

// copyStore is what both backends offer the copy.
type copyStore interface {
	store.Dumper
	store.Loader
	Close() error
}

func copyStores(ctx context.Context, fromURL, toURL string) (store.Counts, error) {
	src, err := openStoreURL(ctx, fromURL, true)
	if err != nil {
		return store.Counts{}, fmt.Errorf("--from: %w", err)
	}
	defer src.Close()
	// An empty source is a mistyped path or database name, not a copy.
	empty, err := src.Empty(ctx)
	if err != nil {
		return store.Counts{}, fmt.Errorf("--from: %w", err)
	}
	if empty {
		return store.Counts{}, errors.New("--from: the store is empty (check the path or database name)")
	}
	dst, err := openStoreURL(ctx, toURL, false)
	if err != nil {
		return store.Counts{}, fmt.Errorf("--to: %w", err)
	}
	counts, err := store.Copy(ctx, src, dst)
	return counts, errors.Join(err, dst.Close())
}

// openStoreURL opens sqlite://<path> or mongodb[+srv]://…/<db>. A source
// file must exist: opening a mistyped path would create it and copy
// nothing.
func openStoreURL(ctx context.Context, raw string, source bool) (copyStore, error) {
	if path, ok := strings.CutPrefix(raw, "sqlite://"); ok {
		if path == "" {
			return nil, errors.New("sqlite:// needs a file path")
		}
		if source {
			if _, err := os.Stat(path); err != nil {
				return nil, err
			}
		}
		return sqlite.Open(path)
	}
	if strings.HasPrefix(raw, "mongodb://") || strings.HasPrefix(raw, "mongodb+srv://") {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		db := strings.TrimPrefix(u.Path, "/")
		if db == "" {
			db = "pushi"
		}
		return mongo.Open(ctx, raw, db)
	}
	return nil, fmt.Errorf("%q: want sqlite://<path> or mongodb://<host>/<db>", raw)
}

package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The store holds every app secret, so its files are the owner's alone.
// SQLite gives the -wal and -shm it creates the main file's mode, so
// creating that file 0600 covers them; files an earlier version (or a
// copy) left looser are tightened at open.
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// suffixes name the database and the files SQLite keeps beside it: the
// WAL holds recent page images (secrets included) until a checkpoint,
// the journal those of a rollback-mode transaction, the -shm indexes.
var suffixes = []string{"", "-wal", "-shm", "-journal"}

// prepareFiles creates path's missing directories 0700 (only those: a
// directory that exists is the operator's, such as the working
// directory of the default ./pushi.db), creates the database file 0600
// if it is missing, and tightens the database and its companions to
// 0600 where they exist with looser modes, logging each.
func prepareFiles(path string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	if err == nil {
		// The umask may have cleared bits of fileMode; set it exactly,
		// since SQLite copies it to the -wal and -shm.
		err = errors.Join(f.Chmod(fileMode), f.Close())
		if err != nil {
			return fmt.Errorf("store file: %w", err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("store file: %w", err)
	}
	for _, suffix := range suffixes {
		p := path + suffix
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store file: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&^fileMode == 0 {
			continue
		}
		if err := os.Chmod(p, fileMode); err != nil {
			return fmt.Errorf("store file %s is readable by others (%v) and could not be restricted: %w", p, fi.Mode().Perm(), err)
		}
		log.Warn("store file was readable by other users (it holds app secrets): restricted to its owner", "file", p, "was", fi.Mode().Perm().String(), "now", fs.FileMode(fileMode).String())
	}
	return nil
}

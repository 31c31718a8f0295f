package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// dbFile accepts a database file path whose directory exists or can be
// created: the path is not a directory, and its nearest existing ancestor
// is one. It only looks; the store creates the directory and the file.
func dbFile(p *string) func(string) error {
	return func(v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		if fi, err := os.Stat(v); err == nil && fi.IsDir() {
			return fmt.Errorf("%s is a directory: name the database file, e.g. %s", v, filepath.Join(v, "pushi.db"))
		}
		for dir := filepath.Dir(v); ; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			if errors.Is(err, fs.ErrNotExist) && dir != filepath.Dir(dir) {
				continue // created at start
			}
			if err != nil {
				return fmt.Errorf("directory of %s: %w", v, err)
			}
			if !fi.IsDir() {
				return fmt.Errorf("directory of %s cannot be created: %s is not a directory", v, dir)
			}
			break
		}
		*p = v
		return nil
	}
}

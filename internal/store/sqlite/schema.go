package sqlite

import (
	"database/sql"
	"fmt"
)

// migrations run in order, each in its own transaction; PRAGMA
// user_version records how many ran. Never edit one that shipped: append.
var migrations = []string{`
CREATE TABLE apps (
	id TEXT PRIMARY KEY,
	key TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL UNIQUE,
	body TEXT NOT NULL,
	prev_secret TEXT NOT NULL DEFAULT '',
	prev_valid_until_ms INTEGER NOT NULL DEFAULT 0,
	from_config INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE follows (
	app_id TEXT NOT NULL, user_id TEXT NOT NULL, channel TEXT NOT NULL, created_s INTEGER NOT NULL,
	PRIMARY KEY (app_id, user_id, channel)
);
CREATE INDEX follows_by_channel ON follows (app_id, channel, user_id);
CREATE TABLE sequences (app_id TEXT NOT NULL, channel TEXT NOT NULL, last INTEGER NOT NULL, PRIMARY KEY (app_id, channel));
CREATE TABLE events (
	app_id TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL,
	mid TEXT NOT NULL UNIQUE, ts_ms INTEGER NOT NULL,
	event TEXT NOT NULL, data TEXT NOT NULL, source TEXT NOT NULL,
	socket_id TEXT NOT NULL, user_id TEXT NOT NULL,
	PRIMARY KEY (app_id, channel, seq)
);
CREATE INDEX events_by_age ON events (app_id, ts_ms);
CREATE TABLE inbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	app_id TEXT NOT NULL, user_id TEXT NOT NULL, mid TEXT NOT NULL,
	channel TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL
);
CREATE INDEX inbox_by_user ON inbox (app_id, user_id, id);
CREATE INDEX inbox_by_mid ON inbox (mid);
`,
	// The inbox is read and capped in mid order (mids are made in commit
	// order), so one (app, user, mid) index serves reads, cursors and the
	// per-user cap without a sort; the two older indexes were unused.
	`
CREATE INDEX inbox_by_user_mid ON inbox (app_id, user_id, mid);
DROP INDEX inbox_by_user;
DROP INDEX inbox_by_mid;
`}

func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this pushi (%d): upgrade pushi", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if err := migrateOne(db, i); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

func migrateOne(db *sql.DB, i int) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(migrations[i]); err != nil {
		return err
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
		return err
	}
	return tx.Commit()
}

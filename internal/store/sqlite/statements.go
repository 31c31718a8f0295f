package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

// appendSQL are the statements of an Append, prepared once on the writer:
// parsing them per trigger was half the committer's CPU.
var appendSQL = [...]string{
	`INSERT INTO sequences (app_id, channel, last) VALUES (?, ?, 1)
		ON CONFLICT (app_id, channel) DO UPDATE SET last = last + 1 RETURNING last`,
	`INSERT INTO events (app_id, channel, seq, mid, ts_ms, event, data, source, socket_id, user_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	`SELECT user_id FROM follows WHERE app_id = ? AND channel = ?`,
	`INSERT INTO inbox (app_id, user_id, mid, channel, seq, ts_ms) VALUES (?, ?, ?, ?, ?, ?)`,
}

type appendStmts struct {
	nextSeq, insertEvent, followers, insertInbox *sql.Stmt
}

func (a *appendStmts) all() []**sql.Stmt {
	return []**sql.Stmt{&a.nextSeq, &a.insertEvent, &a.followers, &a.insertInbox}
}

func prepareAppend(db *sql.DB) (*appendStmts, error) {
	a := &appendStmts{}
	for i, p := range a.all() {
		st, err := db.Prepare(appendSQL[i])
		if err != nil {
			a.close()
			return nil, err
		}
		*p = st
	}
	return a, nil
}

// in binds the statements to tx; on the one writer connection that
// reuses the prepared statements.
func (a *appendStmts) in(ctx context.Context, tx *sql.Tx) *appendStmts {
	return &appendStmts{tx.StmtContext(ctx, a.nextSeq), tx.StmtContext(ctx, a.insertEvent),
		tx.StmtContext(ctx, a.followers), tx.StmtContext(ctx, a.insertInbox)}
}

func (a *appendStmts) close() error {
	var errs []error
	for _, p := range a.all() {
		if *p != nil {
			errs = append(errs, (*p).Close())
		}
	}
	return errors.Join(errs...)
}

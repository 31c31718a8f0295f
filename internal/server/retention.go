package server

import (
	"context"
	"time"

	"github.com/pushi-io/pushi/internal/store"
)

// retain trims every app's stored events and inboxes to its caps
// (docs/features.md §5.5) every interval until ctx ends. Trimming in the
// background keeps it off the publish path; reads may exceed a cap by
// what arrived since the last pass.
func (s *Server) retain(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, app := range s.Apps.All() {
			p := app.Persistence
			r := store.Retention{MaxEventsPerChannel: p.MaxEventsPerChannel, MaxAge: time.Duration(p.MaxAgeS) * time.Second, InboxMaxPerUser: p.InboxMaxPerUser}
			removed, err := s.Store.Trim(ctx, app.ID, r, time.Now())
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("retention trim failed", "app", app.ID, "err", err)
				}
				continue
			}
			if removed > 0 {
				s.log.Debug("retention trimmed", "app", app.ID, "rows", removed)
			}
		}
	}
}

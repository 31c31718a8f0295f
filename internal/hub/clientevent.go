package hub

import (
	"context"
	"strings"
	"time"

	"github.com/pushi-io/pushi/internal/apps"
	"github.com/pushi-io/pushi/internal/broker"
	"github.com/pushi-io/pushi/internal/protocol"
)

// clientEvent forwards a client-* event to the channel's other subscribers
// after the checks of docs/protocol.md §8; a refusal is a pusher:error, never a close.
func (n *Node) clientEvent(c *Conn, f *protocol.Frame) {
	app := c.settings()
	if !app.ClientEvents {
		c.sendError(0, "Client events are not enabled for this app")
		return
	}
	if !strings.HasPrefix(f.Event, "client-") || len(f.Event) > app.Limits.MaxNameLength {
		c.sendError(0, "Client event names start with client- and are at most "+itoa(app.Limits.MaxNameLength)+" characters")
		return
	}
	ch, err := protocol.ParseChannel(f.Channel, app.Limits.MaxNameLength)
	if !f.HasChannel || err != nil {
		c.sendError(0, "Client event needs a valid channel")
		return
	}
	if !ch.Kind.AllowsClientEvents() {
		c.sendError(0, "Client events are only allowed on private, presence and peer channels")
		return
	}
	c.mu.Lock()
	cs := c.subs[ch.Name]
	c.mu.Unlock()
	if cs == nil {
		c.sendError(0, "Not subscribed to "+ch.Name)
		return
	}
	data, err := protocol.DataText(f.Data)
	if err != nil {
		c.sendError(0, "Client event data: "+err.Error())
		return
	}
	if len(data) > app.Limits.MaxEventBytes {
		c.sendError(0, "Client event data is over "+itoa(app.Limits.MaxEventBytes)+" bytes")
		return
	}
	if !c.takeToken(app.Limits.ClientEventRate) {
		n.metrics.rateLimited.Add(1)
		c.sendError(protocol.CodeClientEventRate, "Client event rate limit exceeded")
		return
	}
	ev := protocol.Event{Name: f.Event, Channel: ch.Name, Data: data}
	if cs.member != nil {
		ev.UserID = cs.member.rawID
	}
	if persistClientEvent(app, ch) {
		from := Sender{Source: "client", SocketID: c.socketID, rawID: ev.UserID}
		if cs.member != nil {
			from.UserID = cs.member.userID
		}
		if !n.persistAllowed(app, from) {
			n.metrics.rateLimited.Add(1)
			c.sendError(protocol.CodeClientEventRate, "Stored client event quota exceeded ("+itoa(app.Limits.PersistedClientEventsPerMin)+" a minute), so it was not delivered")
			return
		}
		if err := n.PublishPersisted(context.Background(), app, []protocol.Channel{ch}, f.Event, data, from); err != nil {
			n.log.Error("client event store failed", "app", app.ID, "err", err)
			c.sendError(0, "Client event could not be stored, so it was not delivered")
			return
		}
		n.clientEventHook(app, c, cs, f.Event, data)
		return
	}
	if err := n.broker.Publish(context.Background(), &broker.Publication{App: app.ID, Channel: ch.Name, Exclude: c.socketID, Payload: protocol.EncodeEvent(&ev)}); err != nil {
		n.log.Error("client event publish failed", "app", app.ID, "err", err)
		return
	}
	n.clientEventHook(app, c, cs, f.Event, data)
}

// clientEventHook raises client_event for an accepted client event; the
// user_id is there on presence and peer channels only (docs/protocol.md §15).
func (n *Node) clientEventHook(app *apps.App, c *Conn, cs *chanSub, event, data string) {
	ev := WebhookEvent{Name: "client_event", Channel: cs.ch.Name, Event: event, Data: data, SocketID: c.socketID}
	if cs.member != nil {
		ev.UserID = cs.member.userID
	}
	n.hook(app, ev)
}

// takeToken is a token bucket of rate tokens/s with a burst of rate. It
// lives in the Conn, so its state goes with the connection.
func (c *Conn) takeToken(rate int) bool {
	now := time.Now()
	if c.tokensAt.IsZero() {
		c.tokens = float64(rate)
	} else {
		c.tokens += now.Sub(c.tokensAt).Seconds() * float64(rate)
		if c.tokens > float64(rate) {
			c.tokens = float64(rate)
		}
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// persistAllowed applies limits.persisted_client_events_per_min to the
// sender: the user on presence and peer channels, else the socket. Peer
// channels can name partners who never appear, so without it one user
// could grow stored history without bound through a socket per channel.
func (n *Node) persistAllowed(app *apps.App, from Sender) bool {
	perMin := app.Limits.PersistedClientEventsPerMin
	if perMin <= 0 {
		return true
	}
	who := from.UserID
	if who == "" {
		who = "socket " + from.SocketID
	}
	ok, _ := n.persistRates.Take(app.ID+"\x00"+who, 1, float64(perMin)/60, float64(perMin), time.Now())
	return ok
}

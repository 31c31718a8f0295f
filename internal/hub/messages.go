package hub

import (
	"strings"

	"github.com/pushi-io/pushi/internal/protocol"
)

// handleMessage runs one inbound text message. Malformed input is answered
// with pusher:error code null and never closes the socket (docs/protocol.md §2).
func (n *Node) handleMessage(c *Conn, msg []byte) {
	f, err := protocol.DecodeFrame(msg)
	if err != nil {
		c.sendError(0, "Invalid message: "+err.Error())
		return
	}
	switch f.Event {
	case "pusher:ping":
		c.send(pongFrame)
	case "pusher:pong":
		// Activity was recorded when the frame arrived.
	case "pusher:subscribe":
		n.subscribe(c, &f)
	case "pusher:unsubscribe":
		n.unsubscribe(c, &f)
	case "pusher:signin":
		n.signin(c, &f)
	case "pushi:latest":
		n.latest(c, &f, "pushi_internal:latest")
	case "pusher:latest": // the original pushi's name (docs/features.md §11)
		n.latest(c, &f, "pusher_internal:latest")
	default:
		if strings.HasPrefix(f.Event, "client-") {
			n.clientEvent(c, &f)
			return
		}
		c.sendError(0, "Unsupported event: "+clip(f.Event, clipLong))
	}
}

// sendError queues a pusher:error frame (code 0 is sent as null).
func (c *Conn) sendError(code int, message string) {
	c.send(textFrame(protocol.EncodeError(code, message)))
}

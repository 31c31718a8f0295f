package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushi-io/pushi/internal/testkit"
)

// Connections that vanish (no close frame, some mid-frame) are torn down:
// the node forgets them and the channels they held are vacated.
func TestAbruptDisconnectsAreTornDown(t *testing.T) {
	s := startServer(t, nil)
	var clients []*wsClient
	for i := 0; i < 200; i++ {
		c := s.connect(t, "key-basic")
		c.subscribe(fmt.Sprintf("gone-%d", i%10), nil)
		clients = append(clients, c)
	}
	if got := s.Node.Connections(); got != 200 {
		t.Fatalf("connections = %d", got)
	}
	for i, c := range clients {
		if i%2 == 0 {
			c.conn.Write([]byte{0x81, 0xfe, 0x00}) // half a frame header, then gone
		}
		c.conn.Close()
	}
	testkit.Eventually(t, 5*time.Second, "every connection to be unregistered", func() bool { return s.Node.Connections() == 0 })
	chans, err := s.Node.State().Channels(context.Background(), "100001", "gone-")
	if err != nil || len(chans) != 0 {
		t.Fatalf("channels still occupied: %v %v", chans, err)
	}
}

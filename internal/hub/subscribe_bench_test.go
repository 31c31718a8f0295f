package hub

import (
	"strconv"
	"testing"
)

// The subscribe path end to end (authorisation, the cluster state, the
// index, the answer), one new socket per op, on a channel that already
// has subscribers: the reshaping added a hold per subscribe.
func benchSubscribe(b *testing.B, channel string, presence bool) {
	n, app := testNode(b)
	conns := make([]*Conn, b.N)
	msgs := make([][]byte, b.N)
	for i := range conns {
		conns[i] = discardingConn(b, n, app)
		data := ""
		if presence {
			data = `{"user_id":"u` + strconv.Itoa(i%50) + `"}`
		}
		msgs[i] = subscribeMsg(conns[i], channel, data)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, c := range conns {
		n.handleMessage(c, msgs[i])
	}
}

func BenchmarkSubscribePublic(b *testing.B)   { benchSubscribe(b, "private-bench", false) }
func BenchmarkSubscribePresence(b *testing.B) { benchSubscribe(b, "presence-bench", true) }

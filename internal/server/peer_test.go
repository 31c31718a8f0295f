package server

import (
	"testing"
	"time"
)

// Peer channels (docs/features.md §4) over real WebSocket connections.

// appPeer has client events on and subscription counts off, so the frames
// below are exactly the peer protocol's.
var appPeer = testApp{"200001", "key-peer", "secret-peer"}

const pushiAppsJSON = `{"apps":[
 {"id":"200001","key":"key-peer","secret":"secret-peer","name":"peer","client_events":true,
  "limits":{"presence_max_members":4,"max_channels_per_connection":6}},
 {"id":"200002","key":"key-inbox","secret":"secret-inbox","name":"inbox",
  "persistence":{"inbox_on_subscribe":2,"read_max":3}}
]}`

// startPushiServer runs a server with the apps of pushiAppsJSON.
func startPushiServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWithApps(t, pushiAppsJSON, nil)
}

func peerData(user string) string { return `{"user_id":"` + user + `","peer":true}` }

func peerAdded(presence, peer, partner string) string {
	return `{"event":"pushi_internal:peer_added","channel":"` + presence + `","data":"{\"channel\":\"` + peer + `\",\"user_id\":` + partner + `}"}`
}

func peerRemoved(presence, peer, partner string) string {
	return `{"event":"pushi_internal:peer_removed","channel":"` + presence + `","data":"{\"channel\":\"` + peer + `\",\"user_id\":` + partner + `}"}`
}

func memberAdded(presence, user string) string {
	return `{"event":"pusher_internal:member_added","channel":"` + presence + `","data":"{\"user_id\":\"` + user + `\",\"user_info\":{}}"}`
}

func memberRemoved(presence, user string) string {
	return `{"event":"pusher_internal:member_removed","channel":"` + presence + `","data":"{\"user_id\":\"` + user + `\"}"}`
}

func TestPeerPairingAndMessaging(t *testing.T) {
	s := startPushiServer(t)
	const ch, pair = "presence-chat", "peer-chat:alice&carol"
	alice, bob, carol := s.connect(t, appPeer.key), s.connect(t, appPeer.key), s.connect(t, appPeer.key)

	alice.subscribePresence(appPeer, ch, peerData("alice"))
	// bob does not opt in: members see him, nobody pairs with him. An
	// unsigned "peer" outside channel_data means nothing.
	bob.subscribe(ch, map[string]any{"auth": channelAuth(appPeer.key, appPeer.secret, bob.socketID, ch, `{"user_id":"bob"}`), "channel_data": `{"user_id":"bob"}`, "peer": true})
	alice.expectRaw(memberAdded(ch, "bob"))
	alice.expectNothing(100 * time.Millisecond)

	// carol opts in: both sides get peer_added naming the other user.
	carol.subscribePresence(appPeer, ch, peerData("carol"))
	carol.expectRaw(peerAdded(ch, pair, `\"alice\"`))
	alice.expectRaw(memberAdded(ch, "carol"))
	alice.expectRaw(peerAdded(ch, pair, `\"carol\"`))
	bob.expectRaw(memberAdded(ch, "carol"))
	bob.expectNothing(100 * time.Millisecond)

	// Client events on the pair channel reach the partner only, with user_id,
	// and are persisted (persistence.client_events defaults to "peer").
	carol.sendText(`{"event":"client-hi","channel":"` + pair + `","data":{"m":1}}`)
	alice.expectStored(`{"event":"client-hi","channel":"peer-chat:alice&carol","data":"{\"m\":1}","user_id":"carol"}`)
	alice.sendText(`{"event":"client-hi","channel":"` + pair + `","data":"back"}`)
	carol.expectStored(`{"event":"client-hi","channel":"peer-chat:alice&carol","data":"back","user_id":"alice"}`)
	bob.expectNothing(100 * time.Millisecond)
	carol.pingPong() // no echo to the sender

	// bob may not subscribe to their pair, nor to one with himself: he did not opt in.
	bob.send("pusher:subscribe", map[string]any{"channel": pair})
	bob.expectSubError(pair, "AuthError", 403)
	bob.send("pusher:subscribe", map[string]any{"channel": "peer-chat:alice&bob", "auth": "anything"})
	bob.expectSubError("peer-chat:alice&bob", "AuthError", 403)
	// Non-canonical and malformed peer names.
	carol.send("pusher:subscribe", map[string]any{"channel": "peer-chat:carol&alice"})
	carol.expectSubError("peer-chat:carol&alice", "AuthError", 403)
	carol.send("pusher:subscribe", map[string]any{"channel": "peer-chat:alice carol"})
	carol.expectSubError("peer-chat:alice carol", "LimitReached", 4009)

	// A direct subscribe to a held pair channel is answered at once, and
	// an eligible socket may hold a pair whose partner is offline.
	carol.subscribe(pair, nil)
	carol.subscribe("peer-chat:carol&zed", map[string]any{"auth": "ignored"})
	alice.sendText(`{"event":"client-hi","channel":"` + pair + `","data":"once"}`)
	carol.expectStored(`{"event":"client-hi","channel":"peer-chat:alice&carol","data":"once","user_id":"alice"}`)
	carol.expectNothing(100 * time.Millisecond) // direct + peer sources: delivered once

	// A second socket of alice gets one peer_added per existing pair and
	// nobody else hears of it.
	alice2 := s.connect(t, appPeer.key)
	alice2.subscribePresence(appPeer, ch, peerData("alice"))
	alice2.expectRaw(peerAdded(ch, pair, `\"carol\"`))
	carol.sendText(`{"event":"client-x","channel":"` + pair + `","data":"2"}`)
	alice.expectStored(`{"event":"client-x","channel":"peer-chat:alice&carol","data":"2","user_id":"carol"}`)
	alice2.expectStored(`{"event":"client-x","channel":"peer-chat:alice&carol","data":"2","user_id":"carol"}`)
	bob.expectNothing(50 * time.Millisecond)
	carol.pingPong()
}

func TestPeerCleanup(t *testing.T) {
	s := startPushiServer(t)
	const ch, pair = "presence-room", "peer-room:ann&cy"
	ann, ann2, cy := s.connect(t, appPeer.key), s.connect(t, appPeer.key), s.connect(t, appPeer.key)
	ann.subscribePresence(appPeer, ch, peerData("ann"))
	cy.subscribePresence(appPeer, ch, peerData("cy"))
	cy.expectRaw(peerAdded(ch, pair, `\"ann\"`))
	ann.expectRaw(memberAdded(ch, "cy"))
	ann.expectRaw(peerAdded(ch, pair, `\"cy\"`))
	ann2.subscribePresence(appPeer, ch, peerData("ann"))
	ann2.expectRaw(peerAdded(ch, pair, `\"cy\"`))
	// ann's first socket also subscribes to the pair directly.
	ann.subscribe(pair, nil)

	// ann's first socket leaves the presence channel: it loses the pair
	// channel, the direct source included; ann2 keeps the pair alive.
	ann.send("pusher:unsubscribe", map[string]any{"channel": ch})
	ann.sendText(`{"event":"client-x","channel":"` + pair + `","data":"1"}`)
	ann.expectError(nil)
	cy.expectNothing(100 * time.Millisecond)
	cy.sendText(`{"event":"client-x","channel":"` + pair + `","data":"2"}`)
	ann2.expectStored(`{"event":"client-x","channel":"peer-room:ann&cy","data":"2","user_id":"cy"}`)
	ann.expectNothing(100 * time.Millisecond)

	// ann's last peer socket disconnects: the pair dissolves on cy's side.
	ann2.conn.Close()
	cy.expectRaw(memberRemoved(ch, "ann"))
	cy.expectRaw(peerRemoved(ch, pair, `\"ann\"`))
	cy.sendText(`{"event":"client-x","channel":"` + pair + `","data":"3"}`)
	cy.expectError(nil) // held only through the peer source, now gone

	// Pair again; then cy unsubscribes the presence channel: ann is told.
	ann.subscribePresence(appPeer, ch, peerData("ann"))
	ann.expectRaw(peerAdded(ch, pair, `\"cy\"`))
	cy.expectRaw(memberAdded(ch, "ann"))
	cy.expectRaw(peerAdded(ch, pair, `\"ann\"`))
	cy.subscribe(pair, nil) // direct source too
	cy.send("pusher:unsubscribe", map[string]any{"channel": ch})
	ann.expectRaw(memberRemoved(ch, "cy"))
	ann.expectRaw(peerRemoved(ch, pair, `\"cy\"`))
	cy.sendText(`{"event":"client-x","channel":"` + pair + `","data":"4"}`)
	cy.expectError(nil) // the direct source went with the eligibility
	// ann can re-subscribe directly to write to the offline partner.
	ann.subscribe(pair, nil)
	ann.sendText(`{"event":"client-x","channel":"` + pair + `","data":"5"}`)
	ann.pingPong()
	cy.expectNothing(100 * time.Millisecond)

	// Unsubscribing the pair channel itself keeps the pair: no re-announcement later.
	cy.subscribePresence(appPeer, ch, peerData("cy"))
	cy.expectRaw(peerAdded(ch, pair, `\"ann\"`))
	ann.expectRaw(memberAdded(ch, "cy"))
	ann.expectRaw(peerAdded(ch, pair, `\"cy\"`))
	cy.send("pusher:unsubscribe", map[string]any{"channel": pair})
	dee := s.connect(t, appPeer.key)
	dee.subscribePresence(appPeer, ch, peerData("dee"))
	dee.expectUnordered(peerAdded(ch, "peer-room:ann&dee", `\"ann\"`), peerAdded(ch, "peer-room:cy&dee", `\"cy\"`))
	cy.expectRaw(memberAdded(ch, "dee"))
	cy.expectRaw(peerAdded(ch, "peer-room:cy&dee", `\"dee\"`))
	cy.expectNothing(100 * time.Millisecond)
}

// Ids outside the channel-name alphabet, and integer ids, in pairing.
func TestPeerIDForms(t *testing.T) {
	s := startPushiServer(t)
	const ch = "presence-ids"
	a, b, c := s.connect(t, appPeer.key), s.connect(t, appPeer.key), s.connect(t, appPeer.key)
	a.subscribePresence(appPeer, ch, `{"user_id":10,"peer":true}`)
	// "a b" cannot be named in a peer channel: no pair, the join succeeds.
	b.subscribePresence(appPeer, ch, `{"user_id":"a b","peer":true}`)
	b.expectNothing(100 * time.Millisecond)
	a.expectEvent("pusher_internal:member_added")
	a.expectNothing(100 * time.Millisecond)
	// Integer ids keep their JSON type in peer_added; names sort by bytes.
	c.subscribePresence(appPeer, ch, `{"user_id":9,"peer":true}`)
	c.expectRaw(peerAdded(ch, "peer-ids:10&9", `10`))
	a.expectEvent("pusher_internal:member_added")
	a.expectRaw(peerAdded(ch, "peer-ids:10&9", `9`))
	c.sendText(`{"event":"client-n","channel":"peer-ids:10&9","data":"n"}`)
	a.expectStored(`{"event":"client-n","channel":"peer-ids:10&9","data":"n","user_id":9}`)
	b.expectRaw(`{"event":"pusher_internal:member_added","channel":"presence-ids","data":"{\"user_id\":9,\"user_info\":{}}"}`)
	b.expectNothing(50 * time.Millisecond) // no peer_added, no client event
}

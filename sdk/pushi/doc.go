// Package pushi is the Go server SDK for pushi, a self-hosted realtime server
// that speaks the Pusher Channels protocol and the Pusher HTTP API.
//
// A backend uses it to publish events, to query channel state, to answer the
// channel-authorization and user-authentication requests that pusher-js makes,
// and to verify the webhooks pushi sends:
//
//	client := pushi.New(appID, key, secret, pushi.WithBaseURL("http://127.0.0.1:8080"))
//	err := client.TriggerEvent(ctx, "news", map[string]int{"price": 42}, "update")
//
// Every HTTP call is signed as the Pusher HTTP API requires. Input that the
// server would refuse with 400 is rejected before anything is sent, with a
// *ValidationError; a refusal from the server is returned as an *Error.
//
// With WithEncryptionMasterKey, events on a private-encrypted- channel are
// encrypted with NaCl secretbox under the channel's shared secret (the one
// AuthorizeChannel hands to pusher-js), exactly as the official SDKs do; such
// a channel is triggered alone. Data that already is a {"nonce","ciphertext"}
// envelope is sent as it is.
package pushi

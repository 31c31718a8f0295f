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
// The package uses the standard library only. It does not encrypt event data
// for private-encrypted- channels (that needs NaCl secretbox, which the
// standard library lacks); it does hand out the per-channel shared secret that
// pusher-js needs to decrypt, so data encrypted elsewhere can be published.
package pushi

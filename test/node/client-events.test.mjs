// Client events (protocol.md §8): accepted on private and presence channels
// of an app with client_events on, never echoed, user_id added on presence;
// refused (pusher:error, socket open, nothing delivered) everywhere else.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, errorCode, sleep, uniq, useServer, waitFor } from "./harness.mjs";

/** Two clients of `app` subscribed to `name`; a = sender, b = receiver. */
async function pair(srv, app, name, users = [{ user_id: "sender" }, { user_id: "receiver" }]) {
  const a = await srv.connected(app, { user: users[0] });
  const b = await srv.connected(app, { user: users[1] });
  const chA = await srv.subscribe(a, name);
  const chB = await srv.subscribe(b, name);
  return { a, b, chA, chB };
}

/** Asserts the client event was refused: sender gets pusher:error (code null), stays connected; receiver gets nothing. */
async function assertRefused({ a, b, chA, chB }, { event = "client-x", raw = false } = {}) {
  const id = a.connection.socket_id;
  const errors = collect(a.connection, "error");
  const gotB = collect(chB, event);
  const framesB = collect(b.connection, "message");
  // raw: pusher-js refuses client events on encrypted channels itself, so send the frame directly
  const sent = raw ? a.send_event(event, { should: "not arrive" }, chA.name) : chA.trigger(event, { should: "not arrive" });
  assert.equal(sent, true, "pusher-js sent the frame");
  const err = await waitFor(a.connection, "error", 3000).catch(() => errors.data()[0]);
  assert.ok(err, "the sender gets a pusher:error");
  assert.equal(err.type, "PusherError");
  assert.equal(errorCode(err), null, "client-event refusals carry code null (§8)");
  assert.equal(typeof err.data.message, "string");
  await sleep(500);
  assert.equal(gotB.length, 0, "the receiver got a refused client event");
  assert.equal(framesB.data().filter((m) => m.event === event).length, 0);
  assert.equal(a.connection.state, "connected", "the sender's socket stays open");
  assert.equal(a.connection.socket_id, id);
}

describe("client events", () => {
  const srv = useServer();

  srv.it("private channel: the other subscriber receives client-x with its data; the sender does not", async () => {
    const p = await pair(srv, "full", uniq("private-ce-"));
    const echo = collect(p.chA, "client-x");
    const got = waitFor(p.chB, "client-x", 3000, undefined, { all: true });
    assert.equal(p.chA.trigger("client-x", { typing: true, who: "a" }), true);
    const [data, metadata] = await got;
    assert.deepEqual(data, { typing: true, who: "a" });
    assert.equal(metadata.user_id, undefined, "no user_id on private channels");
    await sleep(400);
    assert.equal(echo.length, 0, "client events are never echoed to the sender");
  });

  srv.it("private channel: every other subscriber receives it", async () => {
    const name = uniq("private-ce-");
    const p = await pair(srv, "full", name);
    const c = await srv.connected("full");
    const chC = await srv.subscribe(c, name);
    const gb = waitFor(p.chB, "client-many", 3000);
    const gc = waitFor(chC, "client-many", 3000);
    p.chA.trigger("client-many", { n: 3 });
    assert.deepEqual(await gb, { n: 3 });
    assert.deepEqual(await gc, { n: 3 });
  });

  srv.it("presence channel: the receiver gets user_id of the sender in the metadata", async () => {
    const p = await pair(srv, "full", uniq("presence-ce-"), [
      { user_id: "alice", user_info: { name: "Alice" } },
      { user_id: "bob" },
    ]);
    const echo = collect(p.chA, "client-typing");
    const got = waitFor(p.chB, "client-typing", 3000, undefined, { all: true });
    p.chA.trigger("client-typing", { on: true });
    const [data, metadata] = await got;
    assert.deepEqual(data, { on: true });
    assert.equal(metadata.user_id, "alice");
    // and the other way round
    const back = waitFor(p.chA, "client-typing", 3000, undefined, { all: true });
    p.chB.trigger("client-typing", { on: false });
    const [data2, metadata2] = await back;
    assert.deepEqual(data2, { on: false });
    assert.equal(metadata2.user_id, "bob");
    await sleep(300);
    assert.equal(echo.length, 1, "alice got bob's event only, never her own");
  });

  srv.it("presence channel: string data is forwarded as the client sent it", async () => {
    const p = await pair(srv, "full", uniq("presence-ce-"));
    const got = waitFor(p.chB, "client-str", 3000);
    p.chA.trigger("client-str", "just text");
    assert.equal(await got, "just text");
  });

  srv.it("public channel: refused with pusher:error, nothing delivered", async () => {
    const p = await pair(srv, "full", uniq("pub-ce-"));
    await assertRefused(p);
  });

  srv.it("app without client_events (basic): refused on private and presence channels", async () => {
    await assertRefused(await pair(srv, "basic", uniq("private-ce-")));
    await assertRefused(await pair(srv, "basic", uniq("presence-ce-")));
  });

  srv.it("private-encrypted channel: refused (pusher-js cannot encrypt client events)", async () => {
    await assertRefused(await pair(srv, "full", uniq("private-encrypted-ce-")), { raw: true });
  });

  srv.it("a channel the sender is not subscribed to: refused", async () => {
    const name = uniq("private-ce-");
    const a = await srv.connected("full");
    const b = await srv.connected("full");
    const chB = await srv.subscribe(b, name);
    const gotB = collect(chB, "client-sneak");
    const errors = collect(a.connection, "error");
    a.send_event("client-sneak", { x: 1 }, name);
    await waitFor(a.connection, "error", 3000).catch(() => {});
    await sleep(300);
    assert.equal(errors.length, 1, "sender gets one pusher:error");
    assert.equal(gotB.length, 0);
    assert.equal(a.connection.state, "connected");
  });

  srv.it("client events are not written to a cache channel's slot", async () => {
    const name = uniq("private-cache-ce-");
    const p = await pair(srv, "full", name);
    const got = waitFor(p.chB, "client-c", 3000);
    p.chA.trigger("client-c", { cached: false });
    await got;
    const c = await srv.connected("full");
    const ch = c.subscribe(name);
    const frames = collect(c.connection, "message");
    const miss = await waitFor(ch, "pusher:cache_miss", 3000).then(
      () => true,
      () => false,
    );
    assert.equal(miss, true, "a fresh subscriber gets pusher:cache_miss");
    assert.equal(frames.data().filter((m) => m.event === "client-c").length, 0);
  });

  srv.it("the socket survives many refused client events and still receives server events", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("pub-ce-");
    const a = await srv.connected("basic");
    const ch = await srv.subscribe(a, name);
    const errors = collect(a.connection, "error");
    for (let i = 0; i < 5; i++) ch.trigger("client-spam", { i });
    await sleep(500);
    assert.ok(errors.length >= 1, "refusals are reported");
    const got = waitFor(ch, "after", 3000);
    await sdk.trigger(name, "after", { ok: true });
    assert.deepEqual(await got, { ok: true });
    assert.equal(a.connection.state, "connected");
  });
});

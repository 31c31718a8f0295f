// Public and private channels: subscribe, delivery from the SDK, socket_id
// exclusion, multi-channel triggers, private auth (protocol.md §5–§7, §14.2).
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

describe("public channels", () => {
  const srv = useServer();

  srv.it("subscribes and gets pusher:subscription_succeeded", async () => {
    const c = await srv.connected("basic");
    const name = uniq("pub-");
    const ch = c.subscribe(name);
    const data = await waitFor(ch, "pusher:subscription_succeeded", 3000);
    assert.equal(ch.subscribed, true);
    // non-presence subscription_succeeded carries {} (§5)
    assert.deepEqual(data, {});
  });

  srv.it("delivers an SDK trigger with object data exactly", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const name = uniq("pub-");
    const ch = await srv.subscribe(c, name);
    const payload = { price: 42, nested: { a: [1, 2, "x"], b: null }, text: "héllo ✓" };
    const got = waitFor(ch, "update", 3000, undefined, { all: true });
    const res = await sdk.trigger(name, "update", payload);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    const [data, metadata] = await got;
    assert.deepEqual(data, payload);
    assert.deepEqual(metadata, {}, "no user_id on server events");
  });

  srv.it("delivers string data verbatim (non-JSON text stays a string)", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const name = uniq("pub-");
    const ch = await srv.subscribe(c, name);
    const got = collect(ch, "note");
    await sdk.trigger(name, "note", "plain text, not JSON");
    await sdk.trigger(name, "note", '{"looks":"like json"}');
    await waitUntil(() => got.length >= 2, 3000, "two events").catch(() => {});
    assert.equal(got.length, 2, "both events arrive");
    assert.equal(got[0][0], "plain text, not JSON");
    // a JSON string is parsed by pusher-js (it parses every string data)
    assert.deepEqual(got[1][0], { looks: "like json" });
  });

  srv.it("delivers events in trigger order", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const name = uniq("pub-");
    const ch = await srv.subscribe(c, name);
    const got = collect(ch, "seq");
    for (let i = 0; i < 10; i++) await sdk.trigger(name, "seq", { i });
    await waitUntil(() => got.length >= 10, 3000, "ten events").catch(() => {});
    assert.deepEqual(
      got.data().map((d) => d.i),
      [...Array(10).keys()],
    );
  });

  srv.it("excludes the socket named in socket_id and delivers to the others", async () => {
    const sdk = srv.sdk("basic");
    const a = await srv.connected("basic");
    const b = await srv.connected("basic");
    const name = uniq("pub-");
    const chA = await srv.subscribe(a, name);
    const chB = await srv.subscribe(b, name);
    const gotA = collect(chA, "ev");
    const gotB = waitFor(chB, "ev", 3000);
    const res = await sdk.trigger(name, "ev", { n: 1 }, { socket_id: a.connection.socket_id });
    assert.equal(res.status, 200);
    assert.deepEqual(await gotB, { n: 1 });
    await sleep(400);
    assert.equal(gotA.length, 0, "the excluded socket got the event");
  });

  srv.it("a multi-channel trigger delivers one event per channel", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const other = await srv.connected("basic");
    const n1 = uniq("pub-a-");
    const n2 = uniq("pub-b-");
    const n3 = uniq("pub-c-");
    const ch1 = await srv.subscribe(c, n1);
    const ch2 = await srv.subscribe(c, n2);
    const ch3 = await srv.subscribe(other, n3);
    const g1 = collect(ch1, "multi");
    const g2 = collect(ch2, "multi");
    const g3 = collect(ch3, "multi");
    const globalC = collect(c.connection, "message");
    const res = await sdk.trigger([n1, n2, n3], "multi", { all: true });
    assert.equal(res.status, 200);
    await waitUntil(() => g3.length >= 1, 3000, "the event").catch(() => {});
    await sleep(400);
    assert.equal(g1.length, 1);
    assert.equal(g2.length, 1);
    assert.equal(g3.length, 1);
    assert.deepEqual(g1[0][0], { all: true });
    assert.deepEqual(g2[0][0], { all: true });
    const frames = globalC.data().filter((m) => m.event === "multi");
    assert.deepEqual(frames.map((m) => m.channel).sort(), [n1, n2].sort(), "one frame per channel to the socket in two channels");
  });

  srv.it("a duplicated channel in one trigger is delivered once", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const name = uniq("pub-");
    const ch = await srv.subscribe(c, name);
    const got = collect(ch, "dup");
    await sdk.trigger([name, name], "dup", "x");
    await waitUntil(() => got.length >= 1, 3000, "the event").catch(() => {});
    await sleep(400);
    assert.equal(got.length, 1);
  });

  srv.it("stops delivering after unsubscribe", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const name = uniq("pub-");
    const ch = await srv.subscribe(c, name);
    const frames = collect(c.connection, "message");
    c.unsubscribe(name);
    await sleep(200);
    await sdk.trigger(name, "late", { x: 1 });
    await sleep(400);
    assert.equal(frames.data().filter((m) => m.channel === name && m.event === "late").length, 0);
    assert.equal(ch.subscribed, false);
  });

  srv.it("events triggered before a subscription are not delivered (non-cache channel)", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("pub-");
    await sdk.trigger(name, "early", { x: 1 });
    const c = await srv.connected("basic");
    const frames = collect(c.connection, "message");
    await srv.subscribe(c, name);
    await sleep(300);
    assert.equal(frames.data().filter((m) => m.event === "early").length, 0);
    assert.equal(frames.data().filter((m) => m.event === "pusher:cache_miss").length, 0, "no cache_miss on a non-cache channel");
  });

  srv.it("channel names with every allowed punctuation and Laravel-style event names work", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("a_b-c=d@e,f.g;h-");
    const c = await srv.connected("basic");
    const ch = await srv.subscribe(c, name);
    const got = waitFor(ch, "App\\Events\\OrderShipped", 3000);
    await sdk.trigger(name, "App\\Events\\OrderShipped", { id: 1 });
    assert.deepEqual(await got, { id: 1 });
  });

  srv.it("a 200-character channel name works end to end", async () => {
    const sdk = srv.sdk("basic");
    const base = uniq("long-");
    const name = base + "x".repeat(200 - base.length);
    assert.equal(name.length, 200);
    const c = await srv.connected("basic");
    const ch = await srv.subscribe(c, name);
    const got = waitFor(ch, "e", 3000);
    await sdk.trigger(name, "e", "ok");
    assert.equal(await got, "ok");
  });
});

describe("private channels", () => {
  const srv = useServer();

  srv.it("subscribes with the SDK's authorizeChannel and receives events", async () => {
    const sdk = srv.sdk("basic");
    const c = await srv.connected("basic");
    const name = uniq("private-");
    const ch = c.subscribe(name);
    const ok = await waitFor(ch, "pusher:subscription_succeeded", 3000);
    assert.deepEqual(ok, {});
    const got = waitFor(ch, "secret", 3000);
    await sdk.trigger(name, "secret", { s: "x" });
    assert.deepEqual(await got, { s: "x" });
  });

  srv.it("a wrong signature gets pusher:subscription_error AuthError 401 and the socket stays open", async () => {
    const c = await srv.connected("basic", {
      channelAuth: () => ({ auth: "key-basic:" + "0".repeat(64) }),
    });
    const id = c.connection.socket_id;
    const name = uniq("private-");
    const ch = c.subscribe(name);
    const first = await Promise.race([
      waitFor(ch, "pusher:subscription_error", 3000).then((e) => ["error", e]),
      waitFor(ch, "pusher:subscription_succeeded", 3000).then((e) => ["ok", e]),
    ]);
    assert.equal(first[0], "error", "the subscription must fail");
    assert.equal(first[1].status, 401);
    assert.equal(first[1].type, "AuthError");
    assert.equal(typeof first[1].error, "string");
    assert.equal(ch.subscribed, false);
    await sleep(200);
    assert.equal(c.connection.state, "connected");
    assert.equal(c.connection.socket_id, id);
  });

  srv.it("a signature made with another app's secret is refused with 401", async () => {
    const c = await srv.connected("basic", {
      channelAuth: (params) => {
        const wrong = srv.sdk("basic", { secret: "not-the-secret" });
        return wrong.authorizeChannel(params.socketId, params.channelName);
      },
    });
    const ch = c.subscribe(uniq("private-"));
    const err = await waitFor(ch, "pusher:subscription_error", 3000);
    assert.equal(err.status, 401);
  });

  srv.it("a signature for another socket_id is refused with 401", async () => {
    const c = await srv.connected("basic", {
      channelAuth: (params, sdk) => sdk.authorizeChannel("1234.5678", params.channelName),
    });
    const ch = c.subscribe(uniq("private-"));
    const err = await waitFor(ch, "pusher:subscription_error", 3000);
    assert.equal(err.status, 401);
  });

  srv.it("a wrong key prefix is refused with 401", async () => {
    const c = await srv.connected("basic", {
      channelAuth: (params, sdk) => {
        const good = sdk.authorizeChannel(params.socketId, params.channelName);
        return { auth: good.auth.replace(/^key-basic:/, "key-full:") };
      },
    });
    const ch = c.subscribe(uniq("private-"));
    const err = await waitFor(ch, "pusher:subscription_error", 3000);
    assert.equal(err.status, 401);
  });

  srv.it("does not deliver to a socket whose private subscription failed", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("private-");
    const good = await srv.connected("basic");
    const bad = await srv.connected("basic", { channelAuth: () => ({ auth: "key-basic:" + "f".repeat(64) }) });
    const chGood = await srv.subscribe(good, name);
    const chBad = bad.subscribe(name);
    await waitFor(chBad, "pusher:subscription_error", 3000);
    const badFrames = collect(bad.connection, "message");
    const got = waitFor(chGood, "ev", 3000);
    await sdk.trigger(name, "ev", { ok: 1 });
    assert.deepEqual(await got, { ok: 1 });
    await sleep(300);
    assert.equal(badFrames.data().filter((m) => m.event === "ev").length, 0);
  });
});

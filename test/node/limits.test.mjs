// Per-app limits and options (protocol.md §1.1, §4, §7, §8, §11.4, §14.2)
// as seen by the real clients.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { DEFAULT_APPS, collect, errorCode, expectRequestError, okJson, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

const LIMITED = {
  id: "100010",
  key: "key-limited",
  secret: "secret-limited",
  name: "limited",
  client_events: true,
  limits: {
    max_event_bytes: 100,
    client_event_rate: 2,
    presence_max_members: 2,
    max_channels_per_connection: 3,
  },
};

const QUOTA = { id: "100012", key: "key-quota", secret: "secret-quota", name: "quota", max_connections: 2 };

const ORIGINS = {
  id: "100013",
  key: "key-origins",
  secret: "secret-origins",
  name: "origins",
  allowed_origins: ["https://good.example"],
};

const SHORT = {
  id: "100014",
  key: "key-short",
  secret: "secret-short",
  name: "short",
  watchlist: true,
  cache_ttl_s: 1,
  limits: { watchlist_max: 2 },
};

const AUTH_REQUIRED = {
  id: "100011",
  key: "key-authreq",
  secret: "secret-authreq",
  name: "authreq",
  user_authentication_required: true,
  user_auth_timeout_s: 1,
};

describe("per-app limits", () => {
  const srv = useServer({ apps: [...DEFAULT_APPS, LIMITED, QUOTA, ORIGINS, SHORT, AUTH_REQUIRED] });

  srv.it("client events over the rate get pusher:error 4301, the socket stays open", async () => {
    const name = uniq("private-rate-");
    const a = await srv.connected("limited");
    const b = await srv.connected("limited");
    const chA = await srv.subscribe(a, name);
    const chB = await srv.subscribe(b, name);
    const errors = collect(a.connection, "error");
    const got = collect(chB, "client-burst");
    for (let i = 0; i < 6; i++) chA.trigger("client-burst", { i });
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4301), 3000, "a 4301 error");
    await sleep(400);
    assert.ok(got.length >= 1 && got.length < 6, `delivered ${got.length} of 6 with a rate of 2/s`);
    assert.equal(a.connection.state, "connected", "4301 is never a close");
    assert.equal(b.connection.state, "connected");
  });

  srv.it("presence member limit → subscription_error LimitReached 4100; a known user may still join", async () => {
    const name = uniq("presence-full-");
    const m1 = await srv.connected("limited", { user: { user_id: "m1" } });
    const m2 = await srv.connected("limited", { user: { user_id: "m2" } });
    const chM1 = await srv.subscribe(m1, name);
    await srv.subscribe(m2, name);
    // member_added for m2 reaches m1 independently of m2's own subscription_succeeded
    await waitUntil(() => chM1.members.count === 2, 3000, "m1 to see m2");
    const added = collect(chM1, "pusher:member_added");
    const m3 = await srv.connected("limited", { user: { user_id: "m3" } });
    const err = await waitFor(m3.subscribe(name), "pusher:subscription_error", 3000);
    assert.equal(err.type, "LimitReached");
    assert.equal(err.status, 4100);
    assert.equal(m3.connection.state, "connected");
    // a second connection of an existing member does not count as a new member
    const m2b = await srv.connected("limited", { user: { user_id: "m2" } });
    const members = await waitFor(m2b.subscribe(name), "pusher:subscription_succeeded", 3000);
    assert.equal(members.count, 2);
    await sleep(300);
    assert.deepEqual(added.data(), [], "no member_added for a refused user or a known user's second connection");
  });

  srv.it("max_connections: the third connection is refused with 4004", async () => {
    const a = await srv.connected("quota");
    const b = await srv.connected("quota");
    const c = srv.client("quota");
    const errors = collect(c.connection, "error");
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4004), 5000, "an error with code 4004");
    await sleep(1000);
    assert.notEqual(c.connection.state, "connected");
    assert.equal(a.connection.state, "connected");
    assert.equal(b.connection.state, "connected");
    // a slot frees up when a connection leaves
    a.disconnect();
    await sleep(300);
    const d = await srv.connected("quota");
    assert.equal(d.connection.state, "connected");
  });

  srv.it("max_channels_per_connection: the fourth subscription is refused (LimitReached 4100)", async () => {
    const c = await srv.connected("limited");
    for (let i = 0; i < 3; i++) await srv.subscribe(c, uniq(`chan${i}-`));
    const err = await waitFor(c.subscribe(uniq("chan3-")), "pusher:subscription_error", 3000);
    assert.equal(err.type, "LimitReached");
    assert.equal(err.status, 4100);
    assert.equal(c.connection.state, "connected");
  });

  srv.it("max_event_bytes applies to HTTP triggers (413) and to client events", async () => {
    const sdk = srv.sdk("limited");
    const name = uniq("private-size-");
    const err = await expectRequestError(sdk.trigger(name, "e", "x".repeat(101)));
    assert.equal(err.status, 413);
    assert.deepEqual(await okJson(sdk.trigger(name, "e", "x".repeat(100))), {});

    const a = await srv.connected("limited");
    const b = await srv.connected("limited");
    const chA = await srv.subscribe(a, name);
    const chB = await srv.subscribe(b, name);
    const got = collect(chB, "client-big");
    const errors = collect(a.connection, "error");
    chA.trigger("client-big", "y".repeat(200));
    await waitUntil(() => errors.length > 0, 3000, "a pusher:error for the oversized client event");
    await sleep(300);
    assert.equal(got.length, 0);
    assert.equal(a.connection.state, "connected");
  });

  srv.it("user_authentication_required: an idle anonymous socket is closed with 4009 after the timeout", async () => {
    const c = await srv.connected("authreq");
    const errors = collect(c.connection, "error");
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4009), 4000, "an error with code 4009");
    await waitUntil(() => c.connection.state !== "connected", 2000, "the close");
  });

  srv.it("user_authentication_required: a socket that signs in in time stays connected", async () => {
    const c = await srv.connected("authreq", { userData: { id: uniq("u-") } });
    await srv.signin(c);
    const errors = collect(c.connection, "error");
    await sleep(2000);
    assert.equal(c.connection.state, "connected");
    assert.equal(errors.length, 0);
  });

  srv.it("user_authentication_required: a private subscription in time also counts", async () => {
    const c = await srv.connected("authreq");
    await srv.subscribe(c, uniq("private-ok-"));
    await sleep(2000);
    assert.equal(c.connection.state, "connected");
  });

  srv.it("allowed_origins: a foreign Origin is refused with 4009, a listed one connects", async () => {
    const bad = await srv.raw("origins", { headers: { Origin: "https://evil.example" } });
    const err = await bad.next((m) => m.event === "pusher:error", 3000);
    assert.equal(err.data.code, 4009);
    assert.equal((await bad.waitClose(3000)).code, 4009);
    const good = await srv.raw("origins", { headers: { Origin: "https://good.example" } });
    const m = await good.next(() => true, 3000);
    assert.equal(m.event, "pusher:connection_established");
  });

  srv.it("cache_ttl_s: an expired cache gives pusher:cache_miss and info=cache null", async () => {
    const sdk = srv.sdk("short");
    const name = uniq("cache-ttl-");
    await sdk.trigger(name, "e", "soon gone");
    const before = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "cache" } }));
    assert.equal(before.cache.data, "soon gone");
    assert.ok(before.cache.ttl <= 1, `ttl ${before.cache.ttl}`);
    await sleep(2200);
    const after = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "cache" } }));
    assert.deepEqual(after, { occupied: false, cache: null });
    const c = await srv.connected("short");
    const ch = c.subscribe(name);
    const got = collect(ch, "e");
    await waitFor(ch, "pusher:cache_miss", 3000);
    assert.equal(got.length, 0);
  });

  srv.it("watchlist over watchlist_max: signin succeeds, then pusher:error 4302, socket open, first ids kept", async () => {
    const ids = [uniq("w1-"), uniq("w2-"), uniq("w3-")];
    const c = await srv.connected("short", { userData: { id: uniq("A-"), watchlist: ids } });
    const errors = collect(c.connection, "error");
    const offline = waitFor(c.user.watchlist, "offline", 3000);
    await srv.signin(c);
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4302), 3000, "a 4302 error");
    const ev = await offline;
    assert.deepEqual([...ev.user_ids].sort(), ids.slice(0, 2).sort(), "only the first watchlist_max ids are watched");
    await sleep(300);
    assert.equal(c.connection.state, "connected");
    // the third id is not watched
    const online = collect(c.user.watchlist, "online");
    const w3 = await srv.connected("short", { userData: { id: ids[2] } });
    await srv.signin(w3);
    await sleep(400);
    assert.equal(online.length, 0);
  });

  srv.it("presence: user_info over 1 KB or user_id over 128 chars → LimitReached 4301", async () => {
    for (const user of [
      { user_id: "big", user_info: { blob: "x".repeat(1100) } },
      { user_id: "u".repeat(129) },
    ]) {
      const c = await srv.connected("basic", { user });
      const err = await waitFor(c.subscribe(uniq("presence-lim-")), "pusher:subscription_error", 3000);
      assert.equal(err.type, "LimitReached");
      assert.equal(err.status, 4301);
      assert.equal(c.connection.state, "connected");
    }
    // 128 chars is fine
    const ok = await srv.connected("basic", { user: { user_id: "v".repeat(128) } });
    await srv.subscribe(ok, uniq("presence-lim-"));
  });
});

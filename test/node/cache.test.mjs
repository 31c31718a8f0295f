// Cache channels (protocol.md §10, §14.2): the last HTTP-triggered event is
// replayed to every new subscriber; an empty cache gives pusher:cache_miss.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, expectRequestError, okJson, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

/** Subscribes a fresh client to `name` and reports what arrived right after subscription_succeeded. */
async function freshSubscriber(srv, app, name, event) {
  const c = await srv.connected(app);
  const ch = c.subscribe(name);
  const frames = collect(c.connection, "message");
  const got = collect(ch, event);
  const misses = collect(ch, "pusher:cache_miss");
  await waitFor(ch, "pusher:subscription_succeeded", 3000);
  await waitUntil(() => got.length + misses.length > 0, 2000, "the cached event or pusher:cache_miss").catch(() => {});
  await sleep(200);
  return { c, ch, frames, got, misses };
}

describe("cache channels", () => {
  const srv = useServer();

  srv.it("a new subscriber gets the cached event after subscription_succeeded", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("cache-");
    await sdk.trigger(name, "price", { v: 1 });
    await sdk.trigger(name, "price", { v: 2 }); // replaces the first
    const { frames, got, misses } = await freshSubscriber(srv, "basic", name, "price");
    assert.equal(misses.length, 0);
    assert.equal(got.length, 1, "exactly one cached event");
    assert.deepEqual(got[0][0], { v: 2 }, "the latest event is cached");
    const events = frames.data().map((m) => m.event);
    assert.ok(
      events.indexOf("pusher_internal:subscription_succeeded") < events.indexOf("price"),
      `order: ${events.join(",")}`,
    );
  });

  srv.it("the cached event keeps its event name and exact string data", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("cache-");
    await sdk.trigger(name, "first-name", "a plain string");
    const { got } = await freshSubscriber(srv, "basic", name, "first-name");
    assert.equal(got.length, 1);
    assert.equal(got[0][0], "a plain string");
  });

  srv.it("subscribing to an empty cache channel gives pusher:cache_miss", async () => {
    const name = uniq("cache-");
    const { frames, got, misses } = await freshSubscriber(srv, "basic", name, "anything");
    assert.equal(misses.length, 1);
    assert.equal(got.length, 0);
    const miss = frames.data().find((m) => m.event === "pusher:cache_miss");
    assert.equal(miss.channel, name);
    assert.equal(miss.data, undefined, "cache_miss has no data key");
  });

  srv.it("private and presence cache channels replay too", async () => {
    const sdk = srv.sdk("basic");
    for (const prefix of ["private-cache-", "presence-cache-"]) {
      const name = uniq(prefix);
      const miss = await freshSubscriber(srv, "basic", name, "ev");
      assert.equal(miss.misses.length, 1, `${prefix}: miss before any trigger`);
      await sdk.trigger(name, "ev", { p: prefix });
      const hit = await freshSubscriber(srv, "basic", name, "ev");
      assert.equal(hit.misses.length, 0, `${prefix}: no miss after a trigger`);
      assert.equal(hit.got.length, 1);
      assert.deepEqual(hit.got[0][0], { p: prefix });
    }
  });

  srv.it("socket_id exclusion is live-only: the excluded socket still gets the cached copy later", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("cache-");
    const a = await srv.connected("basic");
    const chA = a.subscribe(name);
    await waitFor(chA, "pusher:subscription_succeeded", 3000);
    await sleep(100);
    const live = collect(chA, "ex");
    await sdk.trigger(name, "ex", { n: 1 }, { socket_id: a.connection.socket_id });
    await sleep(400);
    assert.equal(live.length, 0, "excluded from live delivery");
    a.unsubscribe(name);
    await sleep(100);
    const chA2 = a.subscribe(name); // pusher-js makes a new Channel object after unsubscribe
    const again = collect(chA2, "ex");
    await waitUntil(() => again.length > 0, 3000, "the cached copy on re-subscribe");
    assert.deepEqual(again[0][0], { n: 1 });
  });

  srv.it("a live subscriber gets the event once (live), not again as a cache replay", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("cache-");
    const c = await srv.connected("basic");
    const ch = c.subscribe(name);
    await waitFor(ch, "pusher:cache_miss", 3000);
    const got = collect(ch, "live");
    await sdk.trigger(name, "live", { l: 1 });
    await waitUntil(() => got.length > 0, 3000, "live event");
    await sleep(300);
    assert.equal(got.length, 1);
  });

  srv.it("GET /channels/cache-x?info=cache returns data and ttl", async () => {
    const sdk = srv.sdk("full"); // app "full" has cache_ttl_s 60
    const name = uniq("cache-");
    await sdk.trigger(name, "quote", { bid: 1.5 });
    const body = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "cache" } }));
    assert.deepEqual(Object.keys(body).sort(), ["cache", "occupied"]);
    assert.equal(body.occupied, false, "nobody subscribed");
    assert.equal(body.cache.data, JSON.stringify({ bid: 1.5 }));
    assert.equal(typeof body.cache.ttl, "number");
    assert.ok(Number.isInteger(body.cache.ttl), `ttl ${body.cache.ttl} is whole seconds`);
    assert.ok(body.cache.ttl > 50 && body.cache.ttl <= 60, `ttl ${body.cache.ttl} within the app's 60 s`);
  });

  srv.it("GET ?info=cache with the default TTL reports at most 1800 s", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("cache-");
    await sdk.trigger(name, "e", "d");
    const c = await srv.connected("basic");
    await srv.subscribe(c, name);
    const body = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "cache" } }));
    assert.equal(body.occupied, true);
    assert.equal(body.cache.data, "d");
    assert.ok(body.cache.ttl > 1790 && body.cache.ttl <= 1800, `ttl ${body.cache.ttl}`);
  });

  srv.it("GET ?info=cache on an empty cache channel returns cache: null", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("cache-");
    const body = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "cache" } }));
    assert.deepEqual(body, { occupied: false, cache: null });
  });

  srv.it("GET ?info=cache on a non-cache channel is 400", async () => {
    const sdk = srv.sdk("basic");
    const err = await expectRequestError(sdk.get({ path: `/channels/${uniq("plain-")}`, params: { info: "cache" } }));
    assert.equal(err.status, 400);
  });
});

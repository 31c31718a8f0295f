// HTTP API (protocol.md §14) through the official `pusher` Node SDK, plus raw
// signed requests for the error cases the SDK will not produce.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, expectRequestError, okJson, rawRequest, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

/** Asserts an HTTP error body is {"error": String, "code": status} (§14.3). */
function assertErrorBody(text, status) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${text}`);
  }
  assert.equal(typeof body.error, "string", `error body: ${text}`);
  assert.ok(body.error.length > 0);
  assert.equal(body.code, status, `error body: ${text}`);
}

async function expectStatus(promise, status) {
  const err = await expectRequestError(promise);
  assert.equal(err.status, status, `expected ${status}, got ${err.status}: ${err.body}`);
  assertErrorBody(err.body, status);
  return err;
}

describe("HTTP API: events", () => {
  const srv = useServer();

  srv.it("trigger answers 200 {} with Content-Type application/json", async () => {
    const sdk = srv.sdk("basic");
    const res = await sdk.trigger(uniq("api-"), "e", { a: 1 });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assert.deepEqual(await res.json(), {});
  });

  srv.it("trigger with info=subscription_count returns the channels' counts", async () => {
    const sdk = srv.sdk("basic");
    const busy = uniq("api-busy-");
    const empty = uniq("api-empty-");
    const a = await srv.connected("basic");
    const b = await srv.connected("basic");
    await srv.subscribe(a, busy);
    await srv.subscribe(b, busy);
    const body = await okJson(sdk.trigger([busy, empty], "e", { x: 1 }, { info: "subscription_count" }));
    assert.deepEqual(body, {
      channels: {
        [busy]: { subscription_count: 2 },
        [empty]: { subscription_count: 0 },
      },
    });
  });

  srv.it("trigger with info=user_count,subscription_count on presence + public channels", async () => {
    const sdk = srv.sdk("basic");
    const pres = uniq("presence-api-");
    const pub = uniq("api-");
    const u1a = await srv.connected("basic", { user: { user_id: "1" } });
    const u1b = await srv.connected("basic", { user: { user_id: "1" } });
    const u2 = await srv.connected("basic", { user: { user_id: "2" } });
    for (const c of [u1a, u1b, u2]) await srv.subscribe(c, pres);
    await srv.subscribe(u2, pub);
    const body = await okJson(sdk.trigger([pres, pub], "e", "d", { info: "user_count,subscription_count" }));
    assert.deepEqual(Object.keys(body), ["channels"]);
    assert.equal(body.channels[pres].user_count, 2, "two distinct users");
    // §14.2: user_count is reported for presence channels, subscription_count for the others
    // (the table's example also shows a subscription_count on presence; if present it counts connections)
    if ("subscription_count" in body.channels[pres]) assert.equal(body.channels[pres].subscription_count, 3);
    assert.deepEqual(body.channels[pub], { subscription_count: 1 });
  });

  srv.it("trigger with info=user_count on a public channel omits the attribute (never an error)", async () => {
    const sdk = srv.sdk("basic");
    const pub = uniq("api-");
    const body = await okJson(sdk.trigger(pub, "e", "d", { info: "user_count" }));
    assert.deepEqual(body, { channels: { [pub]: {} } });
  });

  srv.it("triggerBatch without info answers {} and delivers every item", async () => {
    const sdk = srv.sdk("basic");
    const n1 = uniq("batch-");
    const n2 = uniq("batch-");
    const c = await srv.connected("basic");
    const ch1 = await srv.subscribe(c, n1);
    const ch2 = await srv.subscribe(c, n2);
    const g1 = waitFor(ch1, "b1", 3000);
    const g2 = waitFor(ch2, "b2", 3000);
    const body = await okJson(
      sdk.triggerBatch([
        { channel: n1, name: "b1", data: { one: 1 } },
        { channel: n2, name: "b2", data: "two" },
      ]),
    );
    assert.deepEqual(body, {});
    assert.deepEqual(await g1, { one: 1 });
    assert.equal(await g2, "two");
  });

  srv.it("triggerBatch with info answers an index-aligned batch array", async () => {
    const sdk = srv.sdk("basic");
    const n1 = uniq("batch-");
    const n2 = uniq("batch-");
    const pres = uniq("presence-batch-");
    const c = await srv.connected("basic", { user: { user_id: "bu" } });
    await srv.subscribe(c, n1);
    await srv.subscribe(c, pres);
    const body = await okJson(
      sdk.triggerBatch([
        { channel: n1, name: "e", data: "1", info: "subscription_count" },
        { channel: n2, name: "e", data: "2" },
        { channel: pres, name: "e", data: "3", info: "user_count" },
      ]),
    );
    assert.deepEqual(body, {
      batch: [{ subscription_count: 1 }, {}, { user_count: 1 }],
    });
  });

  srv.it("triggerBatch honours socket_id per item", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("batch-");
    const a = await srv.connected("basic");
    const b = await srv.connected("basic");
    const chA = await srv.subscribe(a, name);
    const chB = await srv.subscribe(b, name);
    const gotA = collect(chA, "x");
    const gotB = waitFor(chB, "x", 3000);
    await okJson(sdk.triggerBatch([{ channel: name, name: "x", data: "d", socket_id: a.connection.socket_id }]));
    assert.equal(await gotB, "d");
    await sleep(300);
    assert.equal(gotA.length, 0);
  });

  srv.it("data of exactly 10240 bytes is accepted; 10241 bytes is 413", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("big-");
    const c = await srv.connected("basic");
    const ch = await srv.subscribe(c, name);
    const got = waitFor(ch, "big", 3000);
    const exact = "x".repeat(10240);
    const res = await sdk.trigger(name, "big", exact);
    assert.equal(res.status, 200);
    assert.equal(await got, exact);
    await expectStatus(sdk.trigger(name, "big", "y".repeat(10241)), 413);
    // multi-byte characters count as bytes, not characters: 5121 × "é" = 10242 bytes
    await expectStatus(sdk.trigger(name, "big", "é".repeat(5121)), 413);
  });

  srv.it("413 in a batch item", async () => {
    const sdk = srv.sdk("basic");
    await expectStatus(sdk.triggerBatch([{ channel: uniq("big-"), name: "e", data: "z".repeat(10241) }]), 413);
  });

  srv.it("sendToUser answers {}", async () => {
    const sdk = srv.sdk("basic");
    const id = uniq("user-");
    const c = await srv.connected("basic", { userData: { id } });
    await srv.signin(c);
    const got = waitFor(c.user, "hello", 3000);
    const body = await okJson(sdk.sendToUser(id, "hello", { to: id }));
    assert.deepEqual(body, {});
    assert.deepEqual(await got, { to: id });
  });

  srv.it("terminateUserConnections answers {}", async () => {
    const sdk = srv.sdk("basic");
    const body = await okJson(sdk.terminateUserConnections(uniq("user-")));
    assert.deepEqual(body, {});
  });

  srv.it("deprecated POST /channels/{channel}/events with query name and raw body", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("legacy-");
    const c = await srv.connected("basic");
    const ch = await srv.subscribe(c, name);
    const got = waitFor(ch, "old-style", 3000);
    const r = await rawRequest(sdk, {
      method: "POST",
      path: `/channels/${name}/events`,
      params: { name: "old-style" },
      body: '{"legacy":true}',
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    assert.deepEqual(await got, { legacy: true });
  });

  srv.it("a raw body with non-string data uses its compact JSON text", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("raw-");
    const c = await srv.connected("basic");
    await srv.subscribe(c, name);
    const frames = collect(c.connection, "message");
    const r = await rawRequest(sdk, {
      method: "POST",
      path: "/events",
      body: '{"name":"obj","channel":"' + name + '","data":{ "a" : [1, 2] }}',
    });
    assert.equal(r.status, 200, r.text);
    await waitUntil(() => frames.data().some((m) => m.event === "obj"), 3000, "the event");
    assert.deepEqual(frames.data().find((m) => m.event === "obj").data, { a: [1, 2] });
  });
});

describe("HTTP API: channel queries", () => {
  const srv = useServer();

  srv.it("GET /channels lists occupied channels with {} each", async () => {
    const sdk = srv.sdk("basic");
    const p = uniq("q-");
    const n1 = `${p}-one`;
    const n2 = `${p}-two`;
    const c = await srv.connected("basic");
    await srv.subscribe(c, n1);
    await srv.subscribe(c, n2);
    const body = await okJson(sdk.get({ path: "/channels" }));
    assert.deepEqual(Object.keys(body), ["channels"]);
    assert.deepEqual(body.channels[n1], {});
    assert.deepEqual(body.channels[n2], {});
    for (const [name, v] of Object.entries(body.channels)) {
      assert.deepEqual(v, {}, `${name}: no attributes without info`);
      assert.ok(!name.startsWith("#server-to-user-"), "server-to-user channels are never listed");
    }
  });

  srv.it("GET /channels?filter_by_prefix returns only matching occupied channels", async () => {
    const sdk = srv.sdk("basic");
    const p = uniq("pref-");
    const c = await srv.connected("basic");
    await srv.subscribe(c, `${p}-a`);
    await srv.subscribe(c, `${p}-b`);
    await srv.subscribe(c, uniq("other-"));
    const body = await okJson(sdk.get({ path: "/channels", params: { filter_by_prefix: p } }));
    assert.deepEqual(body, { channels: { [`${p}-a`]: {}, [`${p}-b`]: {} } });
  });

  srv.it("GET /channels does not list a channel once it is vacated", async () => {
    const sdk = srv.sdk("basic");
    const p = uniq("vac-");
    const c = await srv.connected("basic");
    await srv.subscribe(c, p);
    assert.deepEqual(await okJson(sdk.get({ path: "/channels", params: { filter_by_prefix: p } })), {
      channels: { [p]: {} },
    });
    c.unsubscribe(p);
    await waitUntil(
      async () => {
        const b = await okJson(sdk.get({ path: "/channels", params: { filter_by_prefix: p } }));
        return Object.keys(b.channels).length === 0;
      },
      3000,
      "the channel to disappear",
    );
  });

  srv.it("GET /channels?filter_by_prefix=presence-…&info=user_count", async () => {
    const sdk = srv.sdk("basic");
    const p = uniq("presence-q-");
    const a1 = await srv.connected("basic", { user: { user_id: "a" } });
    const a2 = await srv.connected("basic", { user: { user_id: "a" } });
    const b = await srv.connected("basic", { user: { user_id: "b" } });
    await srv.subscribe(a1, `${p}-x`);
    await srv.subscribe(a2, `${p}-x`);
    await srv.subscribe(b, `${p}-x`);
    await srv.subscribe(b, `${p}-y`);
    const body = await okJson(sdk.get({ path: "/channels", params: { filter_by_prefix: p, info: "user_count" } }));
    assert.deepEqual(body, { channels: { [`${p}-x`]: { user_count: 2 }, [`${p}-y`]: { user_count: 1 } } });
  });

  srv.it("GET /channels?info=user_count without a presence- prefix is 400", async () => {
    const sdk = srv.sdk("basic");
    await expectStatus(sdk.get({ path: "/channels", params: { info: "user_count" } }), 400);
    await expectStatus(sdk.get({ path: "/channels", params: { filter_by_prefix: "private-", info: "user_count" } }), 400);
  });

  srv.it("GET /channels/{presence}?info=user_count", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-one-");
    const u1 = await srv.connected("basic", { user: { user_id: "u1" } });
    const u2 = await srv.connected("basic", { user: { user_id: "u2" } });
    await srv.subscribe(u1, name);
    await srv.subscribe(u2, name);
    const body = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "user_count" } }));
    assert.deepEqual(body, { occupied: true, user_count: 2 });
  });

  srv.it("GET /channels/{public} without info is {occupied}; with subscription_count adds the count", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("one-");
    assert.deepEqual(await okJson(sdk.get({ path: `/channels/${name}` })), { occupied: false });
    const a = await srv.connected("basic");
    const b = await srv.connected("basic");
    await srv.subscribe(a, name);
    await srv.subscribe(b, name);
    assert.deepEqual(await okJson(sdk.get({ path: `/channels/${name}` })), { occupied: true });
    assert.deepEqual(await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "subscription_count" } })), {
      occupied: true,
      subscription_count: 2,
    });
  });

  srv.it("GET /channels/{C}: user_count on non-presence, subscription_count on presence → 400", async () => {
    const sdk = srv.sdk("basic");
    await expectStatus(sdk.get({ path: `/channels/${uniq("pub-")}`, params: { info: "user_count" } }), 400);
    await expectStatus(sdk.get({ path: `/channels/${uniq("presence-")}`, params: { info: "subscription_count" } }), 400);
  });

  srv.it("GET /channels/{presence}/users lists each user once", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-users-");
    const clients = [];
    for (const id of ["1", "2", "2", "3"]) {
      const c = await srv.connected("basic", { user: { user_id: id, user_info: { n: id } } });
      await srv.subscribe(c, name);
      clients.push(c);
    }
    const body = await okJson(sdk.get({ path: `/channels/${name}/users` }));
    assert.deepEqual(Object.keys(body), ["users"]);
    body.users.sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(body, { users: [{ id: "1" }, { id: "2" }, { id: "3" }] });
  });

  srv.it("GET /channels/{empty presence}/users → {users: []}", async () => {
    const sdk = srv.sdk("basic");
    const body = await okJson(sdk.get({ path: `/channels/${uniq("presence-nobody-")}/users` }));
    assert.deepEqual(body, { users: [] });
  });

  srv.it("GET /channels/{non-presence}/users is 400", async () => {
    const sdk = srv.sdk("basic");
    await expectStatus(sdk.get({ path: `/channels/${uniq("pub-")}/users` }), 400);
  });
});

describe("HTTP API: errors", () => {
  const srv = useServer();

  srv.it("wrong secret → 401 with {error, code}", async () => {
    const bad = srv.sdk("basic", { secret: "wrong-secret" });
    await expectStatus(bad.trigger(uniq("e-"), "e", "d"), 401);
    await expectStatus(bad.get({ path: "/channels" }), 401);
  });

  srv.it("another app's key with this app's id → 401", async () => {
    const full = srv.app("full");
    const mixed = srv.sdk("basic", { key: full.key, secret: full.secret });
    await expectStatus(mixed.get({ path: "/channels" }), 401);
  });

  srv.it("unknown app id → 404", async () => {
    const ghost = srv.sdk("basic", { appId: "999999" });
    await expectStatus(ghost.trigger(uniq("e-"), "e", "d"), 404);
    await expectStatus(ghost.get({ path: "/channels" }), 404);
  });

  srv.it("disabled app → 403", async () => {
    const off = srv.sdk("off");
    await expectStatus(off.trigger(uniq("e-"), "e", "d"), 403);
  });

  srv.it("raw request without auth_signature → 401", async () => {
    const sdk = srv.sdk("basic");
    const r = await rawRequest(sdk, { path: "/channels", tamper: (u) => u.searchParams.delete("auth_signature") });
    assert.equal(r.status, 401);
    assertErrorBody(r.text, 401);
  });

  srv.it("raw request with a tampered query (signature no longer matches) → 401", async () => {
    const sdk = srv.sdk("basic");
    const r = await rawRequest(sdk, {
      path: "/channels",
      params: { filter_by_prefix: "a" },
      tamper: (u) => u.searchParams.set("filter_by_prefix", "b"),
    });
    assert.equal(r.status, 401);
    assertErrorBody(r.text, 401);
  });

  srv.it("auth_timestamp more than 600 s away → 401 (signed correctly)", async () => {
    const sdk = srv.sdk("basic");
    const realNow = Date.now;
    try {
      Date.now = () => realNow() - 700 * 1000;
      const old = sdk.createSignedQueryString({ method: "GET", path: "/apps/100001/channels" });
      Date.now = () => realNow() + 700 * 1000;
      const future = sdk.createSignedQueryString({ method: "GET", path: "/apps/100001/channels" });
      Date.now = realNow;
      for (const qs of [old, future]) {
        const res = await fetch(`http://127.0.0.1:${srv.apiPort}/apps/100001/channels?${qs}`);
        const text = await res.text();
        assert.equal(res.status, 401, text);
        assertErrorBody(text, 401);
      }
      // and a timestamp 500 s old is still inside the window
      Date.now = () => realNow() - 500 * 1000;
      const recent = sdk.createSignedQueryString({ method: "GET", path: "/apps/100001/channels" });
      Date.now = realNow;
      const res = await fetch(`http://127.0.0.1:${srv.apiPort}/apps/100001/channels?${recent}`);
      assert.equal(res.status, 200, await res.text());
    } finally {
      Date.now = realNow;
    }
  });

  srv.it("body_md5 that does not match the body → 401", async () => {
    const sdk = srv.sdk("basic");
    const body = JSON.stringify({ name: "e", channel: uniq("md5-"), data: "d" });
    // sign for one body, send another of the same shape
    const r = await rawRequest(sdk, { method: "POST", path: "/events", body });
    assert.equal(r.status, 200, `control request with the right body: ${r.text}`);
    const qs = sdk.createSignedQueryString({ method: "POST", path: "/apps/100001/events", body });
    const res = await fetch(`http://127.0.0.1:${srv.apiPort}/apps/100001/events?${qs}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body.replace('"data":"d"', '"data":"X"'),
    });
    const text = await res.text();
    assert.equal(res.status, 401, text);
    assertErrorBody(text, 401);
  });

  srv.it("a POST body without body_md5 → 401", async () => {
    const sdk = srv.sdk("basic");
    const body = JSON.stringify({ name: "e", channel: uniq("md5-"), data: "d" });
    // signed as if the body were empty: no body_md5 in the query
    const qs = sdk.createSignedQueryString({ method: "POST", path: "/apps/100001/events" });
    const res = await fetch(`http://127.0.0.1:${srv.apiPort}/apps/100001/events?${qs}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    assert.equal(res.status, 401, await res.text());
  });

  srv.it("400: malformed JSON, missing name/data/channels, both channel and channels, too many channels", async () => {
    const sdk = srv.sdk("basic");
    const ch = uniq("bad-");
    const cases = [
      "{not json",
      { data: "d", channel: ch },
      { name: "e", channel: ch },
      { name: "e", data: "d" },
      { name: "e", data: "d", channels: [] },
      { name: "e", data: "d", channel: ch, channels: [ch] },
      { name: "e", data: "d", channels: Array.from({ length: 101 }, (_, i) => `${ch}-${i}`) },
      { name: "e", data: "d", channel: "bad channel name!" },
      { name: "e", data: "d", channel: "x".repeat(201) },
      { name: "x".repeat(201), data: "d", channel: ch },
      { name: "pusher:fake", data: "d", channel: ch },
      { name: "pusher_internal:fake", data: "d", channel: ch },
      { name: "e", data: "d", channel: ch, socket_id: "not-a-socket-id" },
    ];
    for (const body of cases) {
      const r = await rawRequest(sdk, { method: "POST", path: "/events", body });
      assert.equal(r.status, 400, `body ${JSON.stringify(body).slice(0, 120)} → ${r.status} ${r.text}`);
      assertErrorBody(r.text, 400);
    }
  });

  srv.it("400: batch with more than 10 items or an empty batch", async () => {
    const sdk = srv.sdk("basic");
    const items = Array.from({ length: 11 }, (_, i) => ({ channel: uniq("b-"), name: "e", data: String(i) }));
    await expectStatus(sdk.triggerBatch(items), 400);
    const r = await rawRequest(sdk, { method: "POST", path: "/batch_events", body: { batch: [] } });
    assert.equal(r.status, 400, r.text);
  });

  srv.it("exactly 100 channels and exactly 10 batch items are accepted", async () => {
    const sdk = srv.sdk("basic");
    const p = uniq("lim-");
    const res = await sdk.trigger(
      Array.from({ length: 100 }, (_, i) => `${p}-${i}`),
      "e",
      "d",
    );
    assert.equal(res.status, 200);
    const items = Array.from({ length: 10 }, (_, i) => ({ channel: `${p}-${i}`, name: "e", data: String(i) }));
    assert.deepEqual(await okJson(sdk.triggerBatch(items)), {});
  });

  srv.it("unknown route → 404; wrong method on a known route → 405", async () => {
    const sdk = srv.sdk("basic");
    const r404 = await rawRequest(sdk, { path: "/no-such-route" });
    assert.equal(r404.status, 404, r404.text);
    assertErrorBody(r404.text, 404);
    const r405 = await rawRequest(sdk, { method: "GET", path: "/events" });
    assert.equal(r405.status, 405, r405.text);
    assertErrorBody(r405.text, 405);
  });

  srv.it("error responses are application/json", async () => {
    const bad = srv.sdk("basic", { secret: "nope" });
    const r = await rawRequest(bad, { path: "/channels" });
    assert.equal(r.status, 401);
    assert.match(r.headers.get("content-type") || "", /^application\/json/);
  });

  srv.it("channel names in paths are percent-decoded", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-enc-");
    const c = await srv.connected("basic", { user: { user_id: "enc" } });
    await srv.subscribe(c, name);
    const encoded = name.replace(/-/g, "%2D");
    const r = await rawRequest(sdk, { path: `/channels/${encoded}/users` });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { users: [{ id: "enc" }] });
  });
});

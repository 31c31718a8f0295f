// Wire-level checks with a raw WebSocket (rawws.mjs): the exact frames of
// protocol.md §1–§5 that pusher-js would otherwise hide.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { sleep, uniq, useServer } from "./harness.mjs";

const isErr = (code) => (m) => m.event === "pusher:error" && m.data && m.data.code === code;

/** Asserts the raw socket got pusher:error {code, message} (object data) and then a close with the same code. */
async function assertRefused(ws, code) {
  const err = await ws.next((m) => m.event === "pusher:error", 3000);
  assert.equal(typeof err.data, "object", `pusher:error data must be an object on the wire: ${err.__raw}`);
  assert.equal(err.data.code, code, err.__raw);
  assert.equal(typeof err.data.message, "string");
  assert.equal(err.channel, undefined);
  const close = await ws.waitClose(3000);
  assert.equal(close.code, code);
  const first = ws.messages[0];
  assert.equal(first.event, "pusher:error", "nothing is sent before the error on a refused connection");
}

describe("wire format", () => {
  const srv = useServer();

  srv.it("pusher:connection_established is the first frame, with double-encoded data", async () => {
    const ws = await srv.raw("basic");
    const m = await ws.next(() => true);
    assert.equal(m.event, "pusher:connection_established");
    assert.equal(typeof m.data, "string", "data is a JSON string");
    const data = JSON.parse(m.data);
    assert.deepEqual(Object.keys(data).sort(), ["activity_timeout", "socket_id"]);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(data.activity_timeout, 120);
    assert.equal(m.channel, undefined);
  });

  srv.it("protocol 5 and 6 and the legacy /{key} path are accepted", async () => {
    for (const p of ["/app/key-basic?protocol=5", "/app/key-basic?protocol=6&client=js", "/key-basic", "/key-basic?protocol=7"]) {
      const ws = await srv.raw(p);
      const m = await ws.next(() => true);
      assert.equal(m.event, "pusher:connection_established", `${p}: ${m.__raw}`);
    }
  });

  srv.it("refusals: 4005 unknown path, 4008 no protocol, 4007 bad protocol, 4001 unknown key, 4003 disabled", async () => {
    const cases = [
      ["/nope/key-basic", 4005],
      ["/app/key-basic", 4008],
      ["/app/key-basic?client=js&version=8.6.0", 4008],
      ["/app/key-basic?protocol=4", 4007],
      ["/app/key-basic?protocol=8", 4007],
      ["/app/key-basic?protocol=seven", 4007],
      ["/app/unknown-key?protocol=7", 4001],
      ["/app/key-off?protocol=7", 4003],
    ];
    for (const [p, code] of cases) {
      const ws = await srv.raw(p);
      await assertRefused(ws, code).catch((e) => {
        e.message = `${p}: ${e.message}`;
        throw e;
      });
    }
  });

  srv.it("pusher:ping → pusher:pong with data \"{}\"", async () => {
    const [ws] = await srv.rawConnected();
    ws.sendJSON({ event: "pusher:ping", data: {} });
    const m = await ws.next((x) => x.event === "pusher:pong");
    assert.equal(m.data, "{}");
  });

  srv.it("a WebSocket ping control frame is answered with a pong control frame", async () => {
    const [ws] = await srv.rawConnected();
    const pong = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no pong")), 2000);
      ws.once("pong", (p) => {
        clearTimeout(t);
        resolve(p.toString());
      });
    });
    ws.ping("hello");
    assert.equal(await pong, "hello");
  });

  srv.it("malformed input gets pusher:error code null and the socket stays open", async () => {
    const [ws] = await srv.rawConnected();
    const inputs = [
      "not json at all",
      "[1,2,3]",
      JSON.stringify({ data: {} }),
      JSON.stringify({ event: 42 }),
      JSON.stringify({ event: "pusher:subscribe" }),
      JSON.stringify({ event: "pusher:subscribe", data: {} }),
      JSON.stringify({ event: "pusher:subscribe", data: { channel: null } }),
      JSON.stringify({ event: "pusher:unsubscribe" }),
      JSON.stringify({ event: "no-such-event", data: {} }),
    ];
    for (const text of inputs) {
      const from = ws.messages.length;
      ws.sendText(text);
      const m = await ws.next((x) => x.event === "pusher:error", 2000, { from }).catch((e) => {
        e.message = `input ${text}: ${e.message}`;
        throw e;
      });
      assert.equal(typeof m.data, "object", m.__raw);
      assert.equal(m.data.code, null, `input ${text}: ${m.__raw}`);
      assert.equal(typeof m.data.message, "string");
    }
    assert.equal(ws.closed, null, "the socket is still open");
    // and it still works
    const from = ws.messages.length;
    ws.sendJSON({ event: "pusher:ping", data: {} });
    await ws.next((x) => x.event === "pusher:pong", 2000, { from });
  });

  srv.it("subscribe data may be a JSON string instead of an object", async () => {
    const [ws] = await srv.rawConnected();
    const name = uniq("strdata-");
    ws.sendJSON({ event: "pusher:subscribe", data: JSON.stringify({ channel: name }) });
    const m = await ws.next((x) => x.channel === name);
    assert.equal(m.event, "pusher_internal:subscription_succeeded");
  });

  srv.it("a binary message is closed with 1003", async () => {
    const [ws] = await srv.rawConnected();
    ws.sendBinary(Buffer.from([1, 2, 3]));
    const c = await ws.waitClose(3000);
    assert.equal(c.code, 1003);
  });

  srv.it("a message over 64 KiB is closed with 1009", async () => {
    const [ws] = await srv.rawConnected();
    ws.sendText(JSON.stringify({ event: "pusher:ping", data: { pad: "x".repeat(70 * 1024) } }));
    const c = await ws.waitClose(3000);
    assert.equal(c.code, 1009);
  });

  srv.it("subscription_succeeded (non-presence) is {\"event\",\"channel\",\"data\":\"{}\"}", async () => {
    const [ws] = await srv.rawConnected();
    const name = uniq("w-");
    ws.sendJSON({ event: "pusher:subscribe", data: { auth: "", channel: name } });
    const m = await ws.next((x) => x.channel === name);
    assert.equal(m.event, "pusher_internal:subscription_succeeded");
    assert.equal(m.data, "{}");
  });

  srv.it("presence subscription_succeeded carries {presence:{ids,hash,count}} as a string", async () => {
    const sdk = srv.sdk("basic");
    const [ws, sid] = await srv.rawConnected();
    const name = uniq("presence-w-");
    const auth = sdk.authorizeChannel(sid, name, { user_id: 7, user_info: { name: "Seven" } });
    ws.sendJSON({ event: "pusher:subscribe", data: { channel: name, ...auth } });
    const m = await ws.next((x) => x.channel === name);
    assert.equal(m.event, "pusher_internal:subscription_succeeded");
    assert.equal(typeof m.data, "string");
    assert.deepEqual(JSON.parse(m.data), { presence: { ids: [7], hash: { 7: { name: "Seven" } }, count: 1 } });
  });

  srv.it("an SDK event's data string is forwarded byte-for-byte", async () => {
    const sdk = srv.sdk("basic");
    const [ws] = await srv.rawConnected();
    const name = uniq("w-");
    ws.sendJSON({ event: "pusher:subscribe", data: { auth: "", channel: name } });
    await ws.next((x) => x.channel === name);
    const odd = '{ "spaced" :  [1, 2.50, "ü"] }';
    await sdk.trigger(name, "bytes", odd);
    const m = await ws.next((x) => x.event === "bytes");
    assert.equal(m.channel, name);
    assert.equal(m.data, odd);
    assert.equal(m.user_id, undefined);
  });

  srv.it("subscription_error wire shape: data string {type,error,status}", async () => {
    const [ws] = await srv.rawConnected();
    const name = uniq("private-w-");
    ws.sendJSON({ event: "pusher:subscribe", data: { channel: name, auth: "key-basic:" + "0".repeat(64) } });
    const m = await ws.next((x) => x.channel === name);
    assert.equal(m.event, "pusher:subscription_error");
    assert.equal(typeof m.data, "string");
    const d = JSON.parse(m.data);
    assert.deepEqual(Object.keys(d).sort(), ["error", "status", "type"]);
    assert.equal(d.type, "AuthError");
    assert.equal(d.status, 401);
  });

  srv.it("invalid channel names → subscription_error LimitReached 4009", async () => {
    const [ws] = await srv.rawConnected();
    for (const name of ["bad name!", "x".repeat(201), "#not-server-to-user"]) {
      const from = ws.messages.length;
      ws.sendJSON({ event: "pusher:subscribe", data: { auth: "", channel: name } });
      const m = await ws.next((x) => x.channel === name, 2000, { from });
      assert.equal(m.event, "pusher:subscription_error", `${name.slice(0, 30)}: ${m.__raw}`);
      const d = JSON.parse(m.data);
      assert.equal(d.type, "LimitReached");
      assert.equal(d.status, 4009);
    }
    // a 200-char name is fine
    const ok = "y".repeat(200);
    ws.sendJSON({ event: "pusher:subscribe", data: { auth: "", channel: ok } });
    const m = await ws.next((x) => x.channel === ok);
    assert.equal(m.event, "pusher_internal:subscription_succeeded");
  });

  srv.it("presence without channel_data on a socket that is not signed in → InvalidData 400", async () => {
    const sdk = srv.sdk("basic");
    const [ws, sid] = await srv.rawConnected();
    const name = uniq("presence-w-");
    const { auth } = sdk.authorizeChannel(sid, name);
    ws.sendJSON({ event: "pusher:subscribe", data: { channel: name, auth } });
    const m = await ws.next((x) => x.channel === name);
    assert.equal(m.event, "pusher:subscription_error");
    const d = JSON.parse(m.data);
    assert.equal(d.type, "InvalidData");
    assert.equal(d.status, 400);
  });

  srv.it("re-subscribing is idempotent: subscription_succeeded again, no member events", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-w-");
    const [obs, obsId] = await srv.rawConnected();
    obs.sendJSON({ event: "pusher:subscribe", data: { channel: name, ...sdk.authorizeChannel(obsId, name, { user_id: "obs" }) } });
    await obs.next((x) => x.channel === name && x.event.endsWith("subscription_succeeded"));
    const [ws, sid] = await srv.rawConnected();
    const sub = { channel: name, ...sdk.authorizeChannel(sid, name, { user_id: "re", user_info: { v: 1 } }) };
    ws.sendJSON({ event: "pusher:subscribe", data: sub });
    await ws.next((x) => x.channel === name && x.event.endsWith("subscription_succeeded"));
    await obs.next((x) => x.event === "pusher_internal:member_added");
    const from = ws.messages.length;
    const obsFrom = obs.messages.length;
    ws.sendJSON({ event: "pusher:subscribe", data: sub });
    const again = await ws.next((x) => x.channel === name, 2000, { from });
    assert.equal(again.event, "pusher_internal:subscription_succeeded");
    assert.equal(JSON.parse(again.data).presence.count, 2);
    await sleep(300);
    assert.deepEqual(
      obs.messages.slice(obsFrom).map((x) => x.event),
      [],
      "no member_added/member_removed for a re-subscribe",
    );
  });

  srv.it("presence client event: top-level user_id, object data forwarded as compact JSON text", async () => {
    const sdk = srv.sdk("full");
    const name = uniq("presence-w-");
    const [a, aid] = await srv.rawConnected("full");
    const [b, bid] = await srv.rawConnected("full");
    a.sendJSON({ event: "pusher:subscribe", data: { channel: name, ...sdk.authorizeChannel(aid, name, { user_id: 42 }) } });
    b.sendJSON({ event: "pusher:subscribe", data: { channel: name, ...sdk.authorizeChannel(bid, name, { user_id: "b" }) } });
    await a.next((x) => x.channel === name && x.event.endsWith("subscription_succeeded"));
    await b.next((x) => x.channel === name && x.event.endsWith("subscription_succeeded"));
    a.sendJSON({ event: "client-typing", channel: name, data: { on: true, n: [1, 2] } });
    const m = await b.next((x) => x.event === "client-typing");
    assert.equal(m.channel, name);
    assert.equal(m.data, '{"on":true,"n":[1,2]}');
    assert.strictEqual(m.user_id, 42, "the JSON type of user_id first supplied is kept");
  });

  srv.it("signin_success has object data with the same user_data string; cache_miss has no data key", async () => {
    const sdk = srv.sdk("basic");
    const [ws, sid] = await srv.rawConnected();
    const auth = sdk.authenticateUser(sid, { id: uniq("w-user-") });
    ws.sendJSON({ event: "pusher:signin", data: auth });
    const m = await ws.next((x) => x.event === "pusher:signin_success");
    assert.deepEqual(m.data, { user_data: auth.user_data });
    const name = uniq("cache-w-");
    ws.sendJSON({ event: "pusher:subscribe", data: { auth: "", channel: name } });
    const miss = await ws.next((x) => x.event === "pusher:cache_miss");
    assert.equal(miss.channel, name);
    assert.ok(!("data" in miss), miss.__raw);
  });

  srv.it("an unknown pusher: event gets pusher:error code null; the socket stays open", async () => {
    const [ws] = await srv.rawConnected();
    ws.sendJSON({ event: "pusher:whatever", data: {} });
    const m = await ws.next((x) => x.event === "pusher:error");
    assert.equal(m.data.code, null);
    await sleep(200);
    assert.equal(ws.closed, null);
  });
});

describe("wire format: heartbeat (PUSHI_ACTIVITY_TIMEOUT=1, PUSHI_PONG_TIMEOUT=1)", () => {
  const srv = useServer({ env: { PUSHI_ACTIVITY_TIMEOUT: "1", PUSHI_PONG_TIMEOUT: "1" } });

  srv.it("an idle socket gets pusher:ping; without a reply it gets pusher:error 4201 and close 4201", async () => {
    const [ws] = await srv.rawConnected();
    const established = JSON.parse(ws.messages[0].data);
    assert.equal(established.activity_timeout, 1);
    const ping = await ws.next((x) => x.event === "pusher:ping", 2500);
    assert.equal(ping.data, "{}");
    const err = await ws.next(isErr(4201), 3000);
    assert.equal(typeof err.data.message, "string");
    const c = await ws.waitClose(2000);
    assert.equal(c.code, 4201);
  });

  srv.it("answering pusher:ping with pusher:pong keeps the socket open", async () => {
    const [ws] = await srv.rawConnected();
    ws.on("message", (m) => {
      if (m.event === "pusher:ping") ws.sendJSON({ event: "pusher:pong", data: {} });
    });
    await sleep(4500);
    assert.equal(ws.closed, null);
    assert.ok(ws.messages.some((m) => m.event === "pusher:ping"), "the server pinged");
    assert.ok(!ws.messages.some((m) => m.event === "pusher:error"));
  });
});

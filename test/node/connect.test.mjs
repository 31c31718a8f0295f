// Connection: handshake, socket_id, refusals (protocol.md §1, §4).
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, errorCode, sleep, useServer, waitFor, waitUntil } from "./harness.mjs";

const SOCKET_ID = /^\d+\.\d+$/;

/** Waits until a refused client has given up, returns the codes seen on `error`. */
async function refusedCodes(client, expected) {
  const errors = collect(client.connection, "error");
  const states = collect(client.connection, "state_change");
  // wait for the error carrying a code, then for pusher-js to give up
  await waitUntil(() => errors.data().some((e) => errorCode(e) === expected), 5000, `an error event with code ${expected}`);
  await waitUntil(
    () => ["disconnected", "unavailable", "failed"].includes(client.connection.state),
    5000,
    "the connection to end up disconnected/unavailable/failed",
  );
  // pusher-js must not try again: no further "connecting" for a while
  const before = states.length;
  await sleep(1500);
  const later = states.slice(before).map(([s]) => s.current);
  assert.ok(!later.includes("connecting"), `pusher-js reconnected after the refusal: ${later.join(",")}`);
  assert.ok(!later.includes("connected"));
  assert.notEqual(client.connection.state, "connected");
  assert.equal(client.connection.socket_id, undefined);
  return errors.data().map(errorCode);
}

describe("connect", () => {
  const srv = useServer();

  srv.it("reaches connected with a well-formed socket_id", async () => {
    const c = srv.client("basic");
    await waitFor(c.connection, "connected", 5000);
    assert.equal(c.connection.state, "connected");
    assert.match(c.connection.socket_id, SOCKET_ID);
    for (const part of c.connection.socket_id.split(".")) {
      assert.ok(part.length >= 1 && part.length <= 19, `part ${part} has 1..19 digits`);
      assert.ok(part === "0" || !part.startsWith("0"), `part ${part} has no leading zero`);
    }
  });

  srv.it("gives every connection a distinct socket_id", async () => {
    const ids = new Set();
    for (let i = 0; i < 5; i++) {
      const c = await srv.connected("full");
      assert.match(c.connection.socket_id, SOCKET_ID);
      ids.add(c.connection.socket_id);
    }
    assert.equal(ids.size, 5);
  });

  srv.it("advertises activity_timeout 120 s by default (pusher-js keeps min(its 120 s, ours))", async () => {
    const c = await srv.connected("basic");
    assert.equal(c.connection.activityTimeout, 120000);
  });

  srv.it("refuses an unknown app key with 4001 and pusher-js does not reconnect", async () => {
    const c = srv.client("basic", { key: "no-such-key" });
    const codes = await refusedCodes(c, 4001);
    assert.ok(codes.includes(4001), `codes seen: ${JSON.stringify(codes)}`);
  });

  srv.it("refuses a disabled app with 4003 and pusher-js does not reconnect", async () => {
    const c = srv.client("off");
    const codes = await refusedCodes(c, 4003);
    assert.ok(codes.includes(4003), `codes seen: ${JSON.stringify(codes)}`);
    assert.ok(!codes.includes(4001), "a disabled app is not an unknown app");
  });

  srv.it("keeps other clients connected when one is refused", async () => {
    const good = await srv.connected("basic");
    const id = good.connection.socket_id;
    const bad = srv.client("basic", { key: "still-no-such-key" });
    await waitUntil(() => bad.connection.state !== "connecting" && bad.connection.state !== "initialized", 5000, "refusal");
    await sleep(200);
    assert.equal(good.connection.state, "connected");
    assert.equal(good.connection.socket_id, id);
  });

  srv.it("disconnect() from the client is clean (state disconnected, no error)", async () => {
    const c = await srv.connected("basic");
    const errors = collect(c.connection, "error");
    c.disconnect();
    await waitUntil(() => c.connection.state === "disconnected", 3000, "disconnected");
    await sleep(200);
    assert.deepEqual(errors.data().map(errorCode).filter((x) => x !== undefined), []);
  });
});

describe("connect with a short activity timeout (PUSHI_ACTIVITY_TIMEOUT=2)", () => {
  const srv = useServer({ env: { PUSHI_ACTIVITY_TIMEOUT: "2" } });

  srv.it("advertises activity_timeout 2 and the idle connection survives the ping/pong cycle", async () => {
    const c = await srv.connected("basic");
    assert.equal(c.connection.activityTimeout, 2000, "pusher-js uses min(120 s, server's 2 s)");
    const id = c.connection.socket_id;
    const states = collect(c.connection, "state_change");
    const errors = collect(c.connection, "error");
    await sleep(6000); // three activity periods
    assert.equal(c.connection.state, "connected");
    assert.equal(c.connection.socket_id, id, "no reconnect happened");
    assert.deepEqual(states.data(), []);
    assert.deepEqual(errors.data(), []);
  });

  srv.it("answers pusher:ping from the client with pusher:pong", async () => {
    const c = await srv.connected("basic");
    const pong = waitFor(c.connection, "message", 3000, (m) => m.event === "pusher:pong");
    c.connection.send_event("pusher:ping", {});
    const m = await pong;
    assert.equal(m.event, "pusher:pong");
    assert.equal(m.channel, undefined);
  });
});

// User authentication (protocol.md §11): pusher.signin(), server-to-user
// events via the SDK's sendToUser, terminateUserConnections (4009).
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, errorCode, okJson, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

describe("user authentication", () => {
  const srv = useServer();

  srv.it("signin() succeeds: signin_success echoes user_data and pusher.user holds it", async () => {
    const id = uniq("user-");
    const userData = { id, user_info: { name: "Ann" } };
    const c = await srv.connected("basic", { userData });
    const data = await srv.signin(c);
    assert.equal(typeof data, "object", "signin_success data is an object (§5)");
    assert.equal(data.user_data, JSON.stringify(userData), "the exact user_data string comes back");
    assert.deepEqual(c.user.user_data, userData);
    assert.equal(c.user.serverToUserChannel.name, `#server-to-user-${id}`);
    assert.equal(c.user.serverToUserChannel.subscribed, true);
  });

  srv.it("sendToUser reaches pusher.user.bind on every connection of that user, and nobody else", async () => {
    const sdk = srv.sdk("basic");
    const id = uniq("user-");
    const other = uniq("user-");
    const a1 = await srv.connected("basic", { userData: { id } });
    const a2 = await srv.connected("basic", { userData: { id } });
    const b = await srv.connected("basic", { userData: { id: other } });
    await Promise.all([srv.signin(a1), srv.signin(a2), srv.signin(b)]);
    const g1 = waitFor(a1.user, "order-shipped", 3000);
    const g2 = waitFor(a2.user, "order-shipped", 3000);
    const gb = collect(b.user, "order-shipped");
    const res = await sdk.sendToUser(id, "order-shipped", { order: 7 });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    assert.deepEqual(await g1, { order: 7 });
    assert.deepEqual(await g2, { order: 7 });
    await sleep(300);
    assert.equal(gb.length, 0, "another user got it");
  });

  srv.it("signin works on an app that does not require user authentication", async () => {
    // app "full" has user_authentication_required off as well; both must answer signin
    const c = await srv.connected("full", { userData: { id: uniq("user-") } });
    const data = await srv.signin(c);
    assert.equal(typeof data.user_data, "string");
  });

  srv.it("a bad signin signature gets error 4009 and the connection is closed, without reconnect", async () => {
    const c = await srv.connected("basic", {
      userAuth: (params) => ({ auth: "key-basic:" + "0".repeat(64), user_data: JSON.stringify({ id: "mallory" }) }),
    });
    const errors = collect(c.connection, "error");
    c.signin();
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4009), 3000, "an error with code 4009");
    await waitUntil(() => c.connection.state !== "connected", 3000, "the connection to close");
    await sleep(1000);
    assert.notEqual(c.connection.state, "connected", "4009 is a refusal: pusher-js does not reconnect");
    assert.equal(c.user.user_data, null);
  });

  srv.it("user_data without an id is refused with 4009", async () => {
    const c = await srv.connected("basic", {
      userAuth: (params, sdk) => {
        const userData = JSON.stringify({ name: "no id" });
        return { auth: `key-basic:${signUser(sdk, params.socketId, userData)}`, user_data: userData };
      },
    });
    const errors = collect(c.connection, "error");
    c.signin();
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4009), 3000, "an error with code 4009");
  });

  srv.it("terminateUserConnections closes that user's connections with 4009 and leaves others connected", async () => {
    const sdk = srv.sdk("basic");
    const victim = uniq("user-");
    const bystander = uniq("user-");
    const v1 = await srv.connected("basic", { userData: { id: victim } });
    const v2 = await srv.connected("basic", { userData: { id: victim } });
    const other = await srv.connected("basic", { userData: { id: bystander } });
    const anon = await srv.connected("basic"); // never signs in
    await Promise.all([srv.signin(v1), srv.signin(v2), srv.signin(other)]);
    const otherId = other.connection.socket_id;
    const anonId = anon.connection.socket_id;
    const e1 = collect(v1.connection, "error");
    const e2 = collect(v2.connection, "error");
    const eo = collect(other.connection, "error");

    const res = await sdk.terminateUserConnections(victim);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});

    await waitUntil(
      () => e1.data().some((e) => errorCode(e) === 4009) && e2.data().some((e) => errorCode(e) === 4009),
      3000,
      "4009 on both of the user's connections",
    );
    await waitUntil(() => v1.connection.state !== "connected" && v2.connection.state !== "connected", 3000, "both closed");
    await sleep(1000);
    assert.notEqual(v1.connection.state, "connected", "pusher-js must not reconnect after 4009");
    assert.notEqual(v2.connection.state, "connected");
    assert.equal(other.connection.state, "connected");
    assert.equal(other.connection.socket_id, otherId);
    assert.equal(anon.connection.state, "connected");
    assert.equal(anon.connection.socket_id, anonId);
    assert.equal(eo.length, 0);

    // the bystander still gets its events
    const g = waitFor(other.user, "still-here", 3000);
    await sdk.sendToUser(bystander, "still-here", { ok: true });
    assert.deepEqual(await g, { ok: true });
  });

  srv.it("terminate does not touch a connection whose only identity is presence channel_data (§11.3)", async () => {
    const sdk = srv.sdk("basic");
    const id = uniq("user-");
    const c = await srv.connected("basic", { user: { user_id: id } });
    await srv.subscribe(c, uniq("presence-"));
    const sid = c.connection.socket_id;
    const res = await sdk.terminateUserConnections(id);
    assert.equal(res.status, 200);
    await sleep(500);
    assert.equal(c.connection.state, "connected");
    assert.equal(c.connection.socket_id, sid);
  });

  srv.it("terminating a user with no connections answers {}", async () => {
    const sdk = srv.sdk("basic");
    const body = await okJson(sdk.terminateUserConnections(uniq("nobody-")));
    assert.deepEqual(body, {});
  });

  srv.it("#server-to-user-<other id> cannot be subscribed (subscription_error 403)", async () => {
    const me = uniq("user-");
    const c = await srv.connected("basic", { userData: { id: me } });
    await srv.signin(c);
    const err = await rawSubscribeError(c, `#server-to-user-${uniq("someone-")}`);
    assert.equal(err.status, 403);
    assert.equal(err.type, "AuthError");
  });

  srv.it("#server-to-user- is refused (403) on a socket that has not signed in", async () => {
    const c = await srv.connected("basic");
    const err = await rawSubscribeError(c, `#server-to-user-${uniq("x-")}`);
    assert.equal(err.status, 403);
  });

  srv.it("signing in again as the same id succeeds again and replaces user_info", async () => {
    const id = uniq("user-");
    let info = { v: 1 };
    const c = await srv.connected("basic", {
      userAuth: (params, sdk) => sdk.authenticateUser(params.socketId, { id, user_info: info }),
    });
    await srv.signin(c);
    info = { v: 2 };
    const again = waitFor(c.connection, "message", 3000, (m) => m.event === "pusher:signin_success");
    const errors = collect(c.connection, "error");
    const p = srv.sdk("basic").authenticateUser(c.connection.socket_id, { id, user_info: info });
    c.send_event("pusher:signin", p);
    const m = await again;
    assert.equal(m.data.user_data, JSON.stringify({ id, user_info: { v: 2 } }));
    await sleep(200);
    assert.equal(errors.length, 0);
    assert.equal(c.connection.state, "connected");
  });

  srv.it("signing in as a different id on a signed-in socket is refused with 4009", async () => {
    const c = await srv.connected("basic", { userData: { id: uniq("user-") } });
    await srv.signin(c);
    const errors = collect(c.connection, "error");
    const p = srv.sdk("basic").authenticateUser(c.connection.socket_id, { id: uniq("other-") });
    c.send_event("pusher:signin", p);
    await waitUntil(() => errors.data().some((e) => errorCode(e) === 4009), 3000, "an error with code 4009");
  });
});

/**
 * pusher-js refuses to create "#…" channels itself, so send the subscribe
 * frame directly and wait for the server's answer on that channel.
 */
async function rawSubscribeError(client, channel) {
  const answer = waitFor(
    client.connection,
    "message",
    3000,
    (m) => m.channel === channel && m.event.includes("subscription_"),
  );
  client.send_event("pusher:subscribe", { auth: "", channel });
  const m = await answer;
  assert.equal(m.event, "pusher:subscription_error", `got ${m.event} instead`);
  return m.data;
}

function signUser(sdk, socketId, userDataString) {
  return sdk.config.token.sign(`${socketId}::user::${userDataString}`);
}

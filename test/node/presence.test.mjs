// Presence channels: member set, member_added / member_removed, dedupe of a
// user's several connections, HTTP views of the member set (protocol.md §7.3, §14.2).
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, okJson, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

function memberList(members) {
  const out = [];
  members.each((m) => out.push({ id: m.id, info: m.info }));
  return out.sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

describe("presence channels", () => {
  const srv = useServer();

  srv.it("the member list of the joiner contains itself", async () => {
    const name = uniq("presence-");
    const c = await srv.connected("basic", { user: { user_id: "ann", user_info: { name: "Ann" } } });
    const ch = c.subscribe(name);
    const members = await waitFor(ch, "pusher:subscription_succeeded", 3000);
    assert.equal(members.count, 1);
    assert.equal(members.me.id, "ann");
    assert.deepEqual(members.me.info, { name: "Ann" });
    assert.deepEqual(memberList(members), [{ id: "ann", info: { name: "Ann" } }]);
  });

  srv.it("a second user's join gives pusher:member_added with user_info, and the joiner sees both", async () => {
    const name = uniq("presence-");
    const a = await srv.connected("basic", { user: { user_id: "u1", user_info: { name: "One" } } });
    const chA = await srv.subscribe(a, name);
    const added = waitFor(chA, "pusher:member_added", 3000);
    const b = await srv.connected("basic", { user: { user_id: "u2", user_info: { name: "Two", tags: ["x"] } } });
    const chB = b.subscribe(name);
    const membersB = await waitFor(chB, "pusher:subscription_succeeded", 3000);
    const m = await added;
    assert.deepEqual(m, { id: "u2", info: { name: "Two", tags: ["x"] } });
    assert.equal(chA.members.count, 2);
    assert.equal(membersB.count, 2);
    assert.equal(membersB.me.id, "u2");
    assert.deepEqual(memberList(membersB), [
      { id: "u1", info: { name: "One" } },
      { id: "u2", info: { name: "Two", tags: ["x"] } },
    ]);
  });

  srv.it("the joiner does not get member_added for itself", async () => {
    const name = uniq("presence-");
    const a = await srv.connected("basic", { user: { user_id: "solo" } });
    const ch = a.subscribe(name);
    const added = collect(ch, "pusher:member_added");
    await waitFor(ch, "pusher:subscription_succeeded", 3000);
    await sleep(400);
    assert.equal(added.length, 0);
  });

  srv.it("missing user_info is presented as {}", async () => {
    const name = uniq("presence-");
    const a = await srv.connected("basic", { user: { user_id: "noinfo" } });
    const members = await waitFor(a.subscribe(name), "pusher:subscription_succeeded", 3000);
    assert.deepEqual(members.get("noinfo"), { id: "noinfo", info: {} });
  });

  srv.it("the same user on two connections counts once (members.count, /users, user_count)", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-");
    const user = { user_id: "twice", user_info: { n: 1 } };
    const a = await srv.connected("basic", { user });
    await srv.subscribe(a, name);
    const b = await srv.connected("basic", { user });
    const chB = b.subscribe(name);
    const members = await waitFor(chB, "pusher:subscription_succeeded", 3000);
    assert.equal(members.count, 1);
    assert.deepEqual(memberList(members), [{ id: "twice", info: { n: 1 } }]);

    const users = await okJson(sdk.get({ path: `/channels/${name}/users` }));
    assert.deepEqual(users, { users: [{ id: "twice" }] });
    const info = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "user_count" } }));
    assert.deepEqual(info, { occupied: true, user_count: 1 });
  });

  srv.it("another member sees exactly one member_added for a user joining twice", async () => {
    const name = uniq("presence-");
    const obs = await srv.connected("basic", { user: { user_id: "observer" } });
    const chObs = await srv.subscribe(obs, name);
    const added = collect(chObs, "pusher:member_added");
    const user = { user_id: "dup", user_info: { first: true } };
    const a = await srv.connected("basic", { user });
    await srv.subscribe(a, name);
    const b = await srv.connected("basic", { user: { user_id: "dup", user_info: { first: false } } });
    const membersB = await waitFor(b.subscribe(name), "pusher:subscription_succeeded", 3000);
    await sleep(400);
    assert.equal(added.length, 1, `member_added events: ${JSON.stringify(added.data())}`);
    assert.deepEqual(added[0][0], { id: "dup", info: { first: true } });
    assert.equal(chObs.members.count, 2);
    assert.equal(membersB.count, 2);
    // the user_info shown is the one from the user's first connection (§7.3)
    assert.deepEqual(membersB.get("dup").info, { first: true });
  });

  srv.it("member_removed only when the user's last connection leaves", async () => {
    const name = uniq("presence-");
    const obs = await srv.connected("basic", { user: { user_id: "watcher" } });
    const chObs = await srv.subscribe(obs, name);
    const removed = collect(chObs, "pusher:member_removed");
    const user = { user_id: "leaver", user_info: { k: "v" } };
    const a = await srv.connected("basic", { user });
    await srv.subscribe(a, name);
    const b = await srv.connected("basic", { user });
    await srv.subscribe(b, name);
    await waitUntil(() => chObs.members.count === 2, 3000, "two members");

    a.disconnect(); // first connection leaves by disconnecting
    await sleep(600);
    assert.equal(removed.length, 0, "member_removed while the user still has a connection");
    assert.equal(chObs.members.count, 2);

    b.unsubscribe(name); // last connection leaves by unsubscribing
    await waitUntil(() => removed.length >= 1, 3000, "member_removed");
    await sleep(300);
    assert.equal(removed.length, 1);
    assert.deepEqual(removed[0][0], { id: "leaver", info: { k: "v" } });
    assert.equal(chObs.members.count, 1);
  });

  srv.it("a disconnect of the only connection removes the member", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-");
    const obs = await srv.connected("basic", { user: { user_id: "stay" } });
    const chObs = await srv.subscribe(obs, name);
    const a = await srv.connected("basic", { user: { user_id: "go" } });
    await srv.subscribe(a, name);
    await waitUntil(() => chObs.members.count === 2, 3000, "two members");
    const removed = waitFor(chObs, "pusher:member_removed", 3000);
    a.disconnect();
    const m = await removed;
    assert.equal(m.id, "go");
    const users = await okJson(sdk.get({ path: `/channels/${name}/users` }));
    assert.deepEqual(users, { users: [{ id: "stay" }] });
  });

  srv.it("integer and string user_id are the same user; the first JSON type is kept on the wire", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-");
    const obs = await srv.connected("basic", { user: { user_id: "obs" } });
    const chObs = await srv.subscribe(obs, name);
    const added = collect(chObs, "pusher:member_added");
    const a = await srv.connected("basic", { user: { user_id: 10, user_info: { t: "int" } } });
    await srv.subscribe(a, name);
    const b = await srv.connected("basic", { user: { user_id: "10", user_info: { t: "str" } } });
    const membersB = await waitFor(b.subscribe(name), "pusher:subscription_succeeded", 3000);
    await sleep(400);
    assert.equal(added.length, 1);
    assert.strictEqual(added[0][0].id, 10, "member_added keeps the integer user_id first supplied");
    assert.equal(membersB.count, 2);
    const users = await okJson(sdk.get({ path: `/channels/${name}/users` }));
    users.users.sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(users, { users: [{ id: "10" }, { id: "obs" }] }, "HTTP reports ids as strings");
  });

  srv.it("bad presence signature → subscription_error 401, no member_added to others", async () => {
    const name = uniq("presence-");
    const obs = await srv.connected("basic", { user: { user_id: "o" } });
    const chObs = await srv.subscribe(obs, name);
    const added = collect(chObs, "pusher:member_added");
    const bad = await srv.connected("basic", {
      channelAuth: (params, sdk) => {
        const good = sdk.authorizeChannel(params.socketId, params.channelName, { user_id: "intruder" });
        // channel_data altered after signing
        return { auth: good.auth, channel_data: JSON.stringify({ user_id: "admin" }) };
      },
    });
    const err = await waitFor(bad.subscribe(name), "pusher:subscription_error", 3000);
    assert.equal(err.status, 401);
    assert.equal(err.type, "AuthError");
    await sleep(300);
    assert.equal(added.length, 0);
    assert.equal(chObs.members.count, 1);
  });

  srv.it("SDK events reach every member, without user_id metadata", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-");
    const a = await srv.connected("basic", { user: { user_id: "p1" } });
    const b = await srv.connected("basic", { user: { user_id: "p2" } });
    const chA = await srv.subscribe(a, name);
    const chB = await srv.subscribe(b, name);
    const ga = waitFor(chA, "news", 3000, undefined, { all: true });
    const gb = waitFor(chB, "news", 3000, undefined, { all: true });
    await sdk.trigger(name, "news", { hello: "members" });
    const [[da, ma], [db, mb]] = await Promise.all([ga, gb]);
    assert.deepEqual(da, { hello: "members" });
    assert.deepEqual(db, { hello: "members" });
    assert.deepEqual(ma, {}, "server events carry no user_id");
    assert.deepEqual(mb, {});
  });

  srv.it("signin-derived presence: no channel_data, identity from the signed-in user (pusher-js ≥ 7.4)", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("presence-signin-");
    const id = uniq("signed-");
    const c = await srv.connected("basic", {
      userData: { id, user_info: { from: "signin" } },
      // private-form auth only: no channel_data
      channelAuth: (params, s) => ({ auth: s.authorizeChannel(params.socketId, params.channelName).auth }),
    });
    await srv.signin(c);
    const members = await waitFor(c.subscribe(name), "pusher:subscription_succeeded", 3000);
    assert.equal(members.me.id, id);
    assert.equal(members.count, 1);
    assert.deepEqual(members.get(id).info, { from: "signin" });
    const users = await okJson(sdk.get({ path: `/channels/${name}/users` }));
    assert.deepEqual(users, { users: [{ id }] });
  });
});

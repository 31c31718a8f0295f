// Watchlist (protocol.md §12): online/offline of watched users, delivered as
// pusher_internal:watchlist_events so pusher-js emits them on pusher.user.watchlist.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

describe("watchlist", () => {
  const srv = useServer();

  srv.it("initial state: a watched user who is not signed in is reported offline", async () => {
    const a = uniq("A-");
    const b = uniq("B-");
    const ca = await srv.connected("full", { userData: { id: a, watchlist: [b] } });
    const offline = waitFor(ca.user.watchlist, "offline", 3000);
    const online = collect(ca.user.watchlist, "online");
    await srv.signin(ca);
    const ev = await offline;
    assert.deepEqual(ev, { name: "offline", user_ids: [b] });
    await sleep(200);
    assert.equal(online.length, 0, "no online element when nobody watched is online");
  });

  srv.it("B signs in → A gets online [B]; B disconnects → A gets offline [B]", async () => {
    const a = uniq("A-");
    const b = uniq("B-");
    const ca = await srv.connected("full", { userData: { id: a, watchlist: [b] } });
    const initial = waitFor(ca.user.watchlist, "offline", 3000);
    await srv.signin(ca);
    await initial;

    const online = waitFor(ca.user.watchlist, "online", 3000);
    const cb = await srv.connected("full", { userData: { id: b } });
    await srv.signin(cb);
    assert.deepEqual(await online, { name: "online", user_ids: [b] });

    const offline = waitFor(ca.user.watchlist, "offline", 3000);
    cb.disconnect();
    assert.deepEqual(await offline, { name: "offline", user_ids: [b] });
  });

  srv.it("initial state lists online and offline ids in one frame", async () => {
    const on = uniq("on-");
    const off1 = uniq("off1-");
    const off2 = uniq("off2-");
    const con = await srv.connected("full", { userData: { id: on } });
    await srv.signin(con);
    const ca = await srv.connected("full", { userData: { id: uniq("A-"), watchlist: [on, off1, off2] } });
    const frames = collect(ca.connection, "message");
    const online = waitFor(ca.user.watchlist, "online", 3000);
    const offline = waitFor(ca.user.watchlist, "offline", 3000);
    await srv.signin(ca);
    assert.deepEqual(await online, { name: "online", user_ids: [on] });
    const offEv = await offline;
    assert.equal(offEv.name, "offline");
    assert.deepEqual([...offEv.user_ids].sort(), [off1, off2].sort());
    const wl = frames.data().filter((m) => m.event === "pusher_internal:watchlist_events");
    assert.equal(wl.length, 1, "one frame with the whole initial state");
    assert.equal(wl[0].channel, undefined, "no channel key");
  });

  srv.it("offline only after the watched user's last signed-in connection closes", async () => {
    const a = uniq("A-");
    const b = uniq("B-");
    const b1 = await srv.connected("full", { userData: { id: b } });
    const b2 = await srv.connected("full", { userData: { id: b } });
    await srv.signin(b1);
    await srv.signin(b2);
    const ca = await srv.connected("full", { userData: { id: a, watchlist: [b] } });
    const online = waitFor(ca.user.watchlist, "online", 3000);
    await srv.signin(ca);
    await online;
    const offline = collect(ca.user.watchlist, "offline");
    b1.disconnect();
    await sleep(600);
    assert.equal(offline.length, 0, "B still has a connection");
    b2.disconnect();
    await waitUntil(() => offline.length > 0, 3000, "offline");
    assert.deepEqual(offline[0][0], { name: "offline", user_ids: [b] });
  });

  srv.it("a second connection of an online user sends no extra online", async () => {
    const a = uniq("A-");
    const b = uniq("B-");
    const ca = await srv.connected("full", { userData: { id: a, watchlist: [b] } });
    const initial = waitFor(ca.user.watchlist, "offline", 3000);
    await srv.signin(ca);
    await initial;
    const online = collect(ca.user.watchlist, "online");
    const b1 = await srv.connected("full", { userData: { id: b } });
    await srv.signin(b1);
    await waitUntil(() => online.length === 1, 3000, "online");
    const b2 = await srv.connected("full", { userData: { id: b } });
    await srv.signin(b2);
    await sleep(500);
    assert.equal(online.length, 1);
  });

  srv.it("every connection of the watcher gets the transitions", async () => {
    const a = uniq("A-");
    const b = uniq("B-");
    const a1 = await srv.connected("full", { userData: { id: a, watchlist: [b] } });
    const a2 = await srv.connected("full", { userData: { id: a, watchlist: [b] } });
    await srv.signin(a1);
    await srv.signin(a2);
    const o1 = waitFor(a1.user.watchlist, "online", 3000);
    const o2 = waitFor(a2.user.watchlist, "online", 3000);
    const cb = await srv.connected("full", { userData: { id: b } });
    await srv.signin(cb);
    assert.deepEqual(await o1, { name: "online", user_ids: [b] });
    assert.deepEqual(await o2, { name: "online", user_ids: [b] });
  });

  srv.it("on an app without watchlist (basic) no watchlist events are sent", async () => {
    const b = uniq("B-");
    const ca = await srv.connected("basic", { userData: { id: uniq("A-"), watchlist: [b] } });
    const frames = collect(ca.connection, "message");
    await srv.signin(ca);
    const cb = await srv.connected("basic", { userData: { id: b } });
    await srv.signin(cb);
    await sleep(500);
    assert.equal(frames.data().filter((m) => m.event === "pusher_internal:watchlist_events").length, 0);
  });
});

// Subscription count (protocol.md §13): with subscription_count on, every
// subscriber of a non-presence channel is told the count after each change.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, okJson, sleep, uniq, useServer, waitUntil } from "./harness.mjs";

const counts = (seen) => seen.data().map((d) => d.subscription_count);

describe("subscription_count", () => {
  const srv = useServer();

  srv.it("1, then 2 when a second client subscribes, then 1 after it unsubscribes", async () => {
    const name = uniq("count-");
    const a = await srv.connected("full");
    const chA = a.subscribe(name);
    const seenA = collect(chA, "pusher:subscription_count");
    await waitUntil(() => counts(seenA).includes(1), 3000, "count 1");
    assert.equal(chA.subscriptionCount, 1);

    const b = await srv.connected("full");
    const chB = b.subscribe(name);
    const seenB = collect(chB, "pusher:subscription_count");
    await waitUntil(() => counts(seenA).at(-1) === 2, 3000, "count 2 at the first client");
    await waitUntil(() => counts(seenB).at(-1) === 2, 3000, "count 2 at the joiner");
    assert.equal(chA.subscriptionCount, 2);

    b.unsubscribe(name);
    await waitUntil(() => counts(seenA).at(-1) === 1, 3000, "count back to 1");
    assert.deepEqual(counts(seenA), [1, 2, 1]);
    assert.deepEqual(counts(seenB), [2], "the leaver gets nothing after unsubscribing");
  });

  srv.it("the joiner gets the count after its subscription_succeeded", async () => {
    const name = uniq("count-");
    const a = await srv.connected("full");
    const frames = collect(a.connection, "message");
    a.subscribe(name);
    await waitUntil(() => frames.data().some((m) => m.event === "pusher_internal:subscription_count"), 3000, "count");
    const events = frames.data().filter((m) => m.channel === name).map((m) => m.event);
    assert.deepEqual(events.slice(0, 2), ["pusher_internal:subscription_succeeded", "pusher_internal:subscription_count"]);
    const f = frames.data().find((m) => m.event === "pusher_internal:subscription_count");
    assert.deepEqual(f.data, { subscription_count: 1 });
  });

  srv.it("a disconnect lowers the count like an unsubscribe", async () => {
    const name = uniq("private-count-");
    const a = await srv.connected("full");
    const chA = a.subscribe(name);
    const seenA = collect(chA, "pusher:subscription_count");
    const b = await srv.connected("full");
    const c = await srv.connected("full");
    b.subscribe(name);
    c.subscribe(name);
    await waitUntil(() => counts(seenA).at(-1) === 3, 3000, "count 3");
    b.disconnect();
    await waitUntil(() => counts(seenA).at(-1) === 2, 3000, "count 2 after a disconnect");
  });

  srv.it("presence channels get no subscription_count events", async () => {
    const name = uniq("presence-count-");
    const a = await srv.connected("full", { user: { user_id: "x" } });
    const frames = collect(a.connection, "message");
    await srv.subscribe(a, name);
    const b = await srv.connected("full", { user: { user_id: "y" } });
    await srv.subscribe(b, name);
    await sleep(500);
    assert.equal(frames.data().filter((m) => m.event === "pusher_internal:subscription_count").length, 0);
  });

  srv.it("an app with subscription_count off (basic) sends none, but HTTP info=subscription_count still works", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("count-");
    const a = await srv.connected("basic");
    const b = await srv.connected("basic");
    const frames = collect(a.connection, "message");
    await srv.subscribe(a, name);
    await srv.subscribe(b, name);
    await sleep(500);
    assert.equal(frames.data().filter((m) => m.event === "pusher_internal:subscription_count").length, 0);
    const body = await okJson(sdk.get({ path: `/channels/${name}`, params: { info: "subscription_count" } }));
    assert.deepEqual(body, { occupied: true, subscription_count: 2 });
  });
});

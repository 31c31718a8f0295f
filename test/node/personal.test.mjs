// Personal channels and follows (pushi.md §3, §6) with unmodified pusher-js:
// pusher-js treats personal-<id> as a public channel (auth ""), which the
// server accepts from a socket signed in as <id>; events of followed
// channels arrive under their real names, read with bind_global.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { rawRequest, uniq, useServer, waitFor } from "./harness.mjs";

/** Resolves with the data of the first global event `name` on channel `channel`. */
function globalEvent(client, name, channel, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const handler = (event, data) => {
      if (event !== name) return;
      clearTimeout(timer);
      client.unbind_global(handler);
      resolve(data);
    };
    const timer = setTimeout(() => {
      client.unbind_global(handler);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for global "${name}" on ${channel}`));
    }, timeoutMs);
    client.bind_global(handler);
  });
}

describe("personal channels", () => {
  const srv = useServer();

  srv.it("a personal channel receives a followed channel's events via bind_global, also for a follow added while connected", async () => {
    const sdk = srv.sdk("basic");
    const id = uniq("user-");
    const news = uniq("news-");
    const sports = uniq("sports-");
    const follow = async (channel) => {
      const r = await rawRequest(sdk, { method: "POST", path: "/subscribe", body: { user_id: id, event: channel } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.subscription.user_id, id);
      assert.equal(r.json.subscription.event, channel);
    };
    await follow(news);

    const c = await srv.connected("basic", { userData: { id } });
    await srv.signin(c);
    const personal = c.subscribe(`personal-${id}`);
    const ok = await waitFor(personal, "pusher:subscription_succeeded", 3000);
    assert.deepEqual(ok, { alias: [news], events: [] });

    const got = globalEvent(c, "update", news);
    await sdk.trigger(news, "update", { n: 1 });
    assert.deepEqual(await got, { n: 1 });

    // Live re-sync: the personal channel's binders get alias_changed.
    const changed = waitFor(personal, "pushi_internal:alias_changed", 3000);
    await follow(sports);
    assert.deepEqual(await changed, { alias: [news, sports].sort(), added: [sports], removed: [] });
    const goal = globalEvent(c, "goal", sports);
    await sdk.trigger(sports, "goal", "2-1");
    assert.equal(await goal, "2-1");
  });
});

// The README's worked example, with the official `pusher` SDK's own signed
// get/post: a user follows a channel while offline, events persisted by a
// prefix rule land in the user's inbox, the backend reads it over REST and
// the user's pusher-js client gets the newest entries on subscribing to its
// personal channel; pushi:latest pages the channel's history.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { DEFAULT_APPS, uniq, useServer, waitFor } from "./harness.mjs";

const apps = DEFAULT_APPS.map((a) =>
  a.name === "basic" ? { ...a, persistence: { prefixes: ["news-"] } } : a,
);

describe("offline follows and inbox (README example)", () => {
  const srv = useServer({ apps });

  srv.it("a follower offline at trigger time reads the event from the inbox and on personal subscribe", async () => {
    const pusher = srv.sdk("basic");
    const user = uniq("ann-");
    const channel = uniq("news-");

    const follow = await pusher.post({ path: "/subscribe", body: { user_id: user, event: channel } });
    assert.equal(follow.status, 200);
    assert.equal((await follow.json()).subscription.event, channel);

    await pusher.trigger(channel, "headline", { title: "pushi 1.0" }); // persisted: the prefix matches
    await pusher.trigger(uniq("other-"), "headline", { title: "not followed" });

    const res = await pusher.get({ path: `/users/${user}/events`, params: { limit: 10 } });
    assert.equal(res.status, 200);
    const inbox = await res.json();
    assert.equal(inbox.more, false);
    assert.equal(inbox.events.length, 1);
    const [e] = inbox.events;
    assert.equal(e.channel, channel);
    assert.equal(e.event, "headline");
    assert.equal(e.data, JSON.stringify({ title: "pushi 1.0" }));
    assert.equal(e.seq, 1);
    assert.equal(e.source, "api");
    assert.match(e.mid, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);

    // The user comes online: the personal channel's subscription data holds
    // the followed channels and the newest inbox entries.
    const c = await srv.connected("basic", { userData: { id: user } });
    await srv.signin(c);
    const personal = c.subscribe(`personal-${user}`);
    const ok = await waitFor(personal, "pusher:subscription_succeeded", 3000);
    assert.deepEqual(ok.alias, [channel]);
    assert.equal(ok.events.length, 1);
    assert.equal(ok.events[0].mid, e.mid);

    // History of the channel through pushi:latest, with unmodified pusher-js.
    const news = c.subscribe(channel);
    await waitFor(news, "pusher:subscription_succeeded", 3000);
    const latest = waitFor(news, "pushi_internal:latest", 3000);
    c.send_event("pushi:latest", { channel, count: 5 });
    const page = await latest;
    assert.equal(page.channel, channel);
    assert.equal(page.more, false);
    assert.deepEqual(page.events.map((x) => x.seq), [1]);
  });
});

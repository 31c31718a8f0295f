// Protocol webhooks (protocol.md §15) as a Pusher backend receives them:
// every request is checked and parsed by the official `pusher` 5.3.4 SDK
// (pusher.webhook(...).isValid()), driven by real pusher-js clients.
import assert from "node:assert/strict";
import http from "node:http";
import { before, after, describe } from "node:test";

import { sleep, uniq, useServer, waitUntil } from "./harness.mjs";

describe("webhooks", () => {
  const hooksApp = {
    id: "100010",
    key: "key-hooks",
    secret: "secret-hooks",
    name: "hooks",
    client_events: true,
    allow_private_targets: true, // the receiver listens on 127.0.0.1
    webhooks: [],
  };
  const received = []; // {valid, events, headers}
  let receiver;

  // Registered before useServer's hooks, so the app file the server reads
  // already holds the receiver's URL.
  before(async () => {
    receiver = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const rawBody = Buffer.concat(chunks).toString("utf8");
        const wh = srv.sdk("hooks").webhook({ headers: req.headers, rawBody });
        const forged = srv.sdk("hooks", { secret: "not-the-secret" }).webhook({ headers: req.headers, rawBody });
        received.push({ valid: wh.isValid(), forgedValid: forged.isValid(), events: wh.isValid() ? wh.getEvents() : [], headers: req.headers });
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    hooksApp.webhooks.push({ url: `http://127.0.0.1:${receiver.address().port}/pusher/webhooks` });
  });
  after(() => new Promise((r) => receiver.close(r)));

  const srv = useServer({ apps: [hooksApp] });

  const eventsFor = (channel) => received.flatMap((r) => r.events).filter((e) => e.channel === channel);

  srv.it(
    "presence join, client event and leave reach the backend signed, in order, removal after the 3 s delay",
    async () => {
      const name = uniq("presence-");
      const c = await srv.connected("hooks", { user: { user_id: 42, user_info: { n: "x" } } });
      const ch = await srv.subscribe(c, name);
      ch.trigger("client-typing", { on: true });
      await waitUntil(() => eventsFor(name).length >= 3, 5000, "occupied, member_added, client_event");
      c.unsubscribe(name);
      const left = Date.now();
      await waitUntil(() => eventsFor(name).length >= 5, 8000, "member_removed and channel_vacated");
      const waited = Date.now() - left;

      assert.ok(received.length > 0 && received.every((r) => r.valid), "the SDK accepts every request");
      assert.ok(received.every((r) => !r.forgedValid), "a wrong secret does not validate");
      assert.ok(received.every((r) => r.headers["content-type"] === "application/json"));
      assert.ok(received.every((r) => r.headers["x-pusher-key"] === "key-hooks"));
      assert.deepEqual(eventsFor(name), [
        { name: "channel_occupied", channel: name },
        { name: "member_added", channel: name, user_id: "42" },
        {
          name: "client_event",
          channel: name,
          event: "client-typing",
          data: JSON.stringify({ on: true }),
          socket_id: c.connection.socket_id,
          user_id: "42",
        },
        { name: "member_removed", channel: name, user_id: "42" },
        { name: "channel_vacated", channel: name },
      ]);
      assert.ok(waited >= 2500, `removal came ${waited} ms after the leave, want the 3 s delay`);
    },
    { timeout: 20000 },
  );

  srv.it(
    "a reconnect within 3 s is invisible: no channel_vacated, no second channel_occupied",
    async () => {
      const name = uniq("flap-");
      const a = await srv.connected("hooks");
      await srv.subscribe(a, name);
      await waitUntil(() => eventsFor(name).length >= 1, 5000, "channel_occupied");
      a.disconnect();
      await sleep(500);
      const b = await srv.connected("hooks");
      await srv.subscribe(b, name);
      await sleep(3500);
      assert.deepEqual(eventsFor(name), [{ name: "channel_occupied", channel: name }]);
    },
    { timeout: 20000 },
  );
});

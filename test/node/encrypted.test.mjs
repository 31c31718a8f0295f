// Encrypted channels (protocol.md §9): the server treats private-encrypted-*
// as private for auth and forwards the SDK's envelope untouched, so pusher-js
// decrypts it with the shared_secret the SDK's authorizeChannel returns.
import assert from "node:assert/strict";
import { describe } from "node:test";

import { collect, okJson, rawRequest, sleep, uniq, useServer, waitFor, waitUntil } from "./harness.mjs";

describe("encrypted channels", () => {
  const srv = useServer();

  srv.it("pusher-js subscribes with the SDK's shared_secret and receives decrypted data", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("private-encrypted-");
    const c = await srv.connected("basic");
    const ch = c.subscribe(name);
    await waitFor(ch, "pusher:subscription_succeeded", 3000);
    const wire = collect(c.connection, "message");
    const got = waitFor(ch, "secret-event", 3000);
    const payload = { card: "4242", amount: 12.5, note: "ünïcødé" };
    const res = await sdk.trigger(name, "secret-event", payload);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {});
    assert.deepEqual(await got, payload);
    // what travelled was the SDK's envelope, not the plaintext
    const frame = wire.data().find((m) => m.event === "secret-event");
    assert.ok(frame, "frame seen on the connection");
    assert.equal(typeof frame.data.nonce, "string");
    assert.equal(typeof frame.data.ciphertext, "string");
    assert.ok(!JSON.stringify(frame).includes("4242"), "plaintext never on the wire");
  });

  srv.it("string data round-trips through encryption", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("private-encrypted-");
    const c = await srv.connected("basic");
    const ch = await srv.subscribe(c, name);
    const got = waitFor(ch, "s", 3000);
    await sdk.trigger(name, "s", "hello encrypted");
    assert.equal(await got, "hello encrypted");
  });

  srv.it("the envelope is forwarded byte-for-byte (raw trigger with a hand-made data string)", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("private-encrypted-");
    const c = await srv.connected("basic");
    await srv.subscribe(c, name);
    const wire = collect(c.connection, "message");
    const envelope = '{"nonce":"not-really-a-nonce","ciphertext":"AAAA"}';
    const r = await rawRequest(sdk, { method: "POST", path: "/events", body: { name: "opaque", channel: name, data: envelope } });
    assert.equal(r.status, 200, r.text);
    await waitUntil(() => wire.data().some((m) => m.event === "opaque"), 3000, "the frame");
    const frame = wire.data().find((m) => m.event === "opaque");
    // pusher-js parsed the string it got; it must equal the envelope we sent
    assert.deepEqual(frame.data, JSON.parse(envelope));
  });

  srv.it("an encrypted channel subscription needs a valid signature (401 otherwise)", async () => {
    const c = await srv.connected("basic", {
      channelAuth: (params, sdk) => {
        const good = sdk.authorizeChannel(params.socketId, params.channelName);
        return { auth: "key-basic:" + "1".repeat(64), shared_secret: good.shared_secret };
      },
    });
    const err = await waitFor(c.subscribe(uniq("private-encrypted-")), "pusher:subscription_error", 3000);
    assert.equal(err.status, 401);
  });

  srv.it("a multi-channel raw trigger including an encrypted channel is accepted (§9)", async () => {
    const sdk = srv.sdk("basic");
    const enc = uniq("private-encrypted-");
    const pub = uniq("pub-");
    const c = await srv.connected("basic");
    await srv.subscribe(c, pub);
    const wire = collect(c.connection, "message");
    const r = await rawRequest(sdk, {
      method: "POST",
      path: "/events",
      body: { name: "both", channels: [enc, pub], data: '{"x":1}' },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {});
    await waitUntil(() => wire.data().some((m) => m.event === "both"), 3000, "the frame");
    await sleep(200);
  });

  srv.it("GET /channels lists an occupied encrypted channel", async () => {
    const sdk = srv.sdk("basic");
    const name = uniq("private-encrypted-list-");
    const c = await srv.connected("basic");
    await srv.subscribe(c, name);
    const body = await okJson(sdk.get({ path: "/channels", params: { filter_by_prefix: name } }));
    assert.deepEqual(body, { channels: { [name]: {} } });
  });
});

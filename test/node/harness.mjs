// Test harness: starts a pushi binary per test file, builds real pusher-js
// clients and `pusher` SDK instances pointed at it, and gives promise helpers
// that never hang (every wait has a deadline and fails the test on expiry).
//
// Usage in a test file:
//
//   import { describe } from "node:test";
//   import { useServer } from "./harness.mjs";
//   describe("area", () => {
//     const srv = useServer();               // registers before/after hooks
//     srv.it("does something", async () => { ... });
//   });

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, afterEach, before, it as nodeIt } from "node:test";

import PusherClient from "pusher-js";
import { RawWS } from "./rawws.mjs";
import PusherServer from "pusher";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// pusher-js logs every warning/error to the console; keep test output readable.
PusherClient.logToConsole = false;
PusherClient.log = () => {};

// pusher-js (Node build, bundled faye-websocket) calls close() on a socket the
// server has already closed (after a 4xxx close frame); faye then arms a 30 s
// close timer that is never cleared, which keeps the test process alive for
// 30 s. Closing an already-closed socket is a no-op, so skip it. This changes
// nothing on the wire.
{
  const runtime = PusherClient.Runtime;
  const create = runtime.createWebSocket;
  runtime.createWebSocket = function (url) {
    const ws = create.call(this, url);
    const close = ws.close;
    ws.close = function (...args) {
      if (this.readyState === 3 /* CLOSED */) return undefined;
      return close.apply(this, args);
    };
    return ws;
  };
}

/** The apps every test server knows. */
export const DEFAULT_APPS = [
  { id: "100001", key: "key-basic", secret: "secret-basic", name: "basic" },
  {
    id: "100002",
    key: "key-full",
    secret: "secret-full",
    name: "full",
    client_events: true,
    subscription_count: true,
    watchlist: true,
    cache_ttl_s: 60,
  },
  { id: "100003", key: "key-off", secret: "secret-off", name: "off", enabled: false },
];

/** One master key per run; every SDK instance uses it so shared secrets agree. */
export const ENCRYPTION_MASTER_KEY_BASE64 = randomBytes(32).toString("base64");

let uniqueCounter = 0;
/** A fresh name, unique within the run: `${prefix}${pid}-${n}-${random}`. */
export function uniq(prefix = "") {
  uniqueCounter += 1;
  return `${prefix}${process.pid}-${uniqueCounter}-${randomBytes(3).toString("hex")}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function twoFreePorts() {
  for (;;) {
    const a = await freePort();
    const b = await freePort();
    if (a !== b) return [a, b];
  }
}

export function binaryPath() {
  return process.env.PUSHI_BIN
    ? path.resolve(process.env.PUSHI_BIN)
    : path.resolve(HERE, "../../bin/pushi");
}

// ---------------------------------------------------------------------------
// Waiting helpers

function bindOnce(emitter, event, handler) {
  if (typeof emitter.bind === "function" && typeof emitter.unbind === "function") {
    emitter.bind(event, handler);
    return () => emitter.unbind(event, handler);
  }
  if (typeof emitter.on === "function") {
    emitter.on(event, handler);
    return () => emitter.off(event, handler);
  }
  throw new TypeError("waitFor: not an event emitter");
}

/**
 * Resolves with the first argument of the first `event` emitted by `emitter`
 * (a pusher-js Dispatcher — connection, channel, user, watchlist — or a Node
 * EventEmitter) for which `predicate(...args)` is true. Rejects after
 * `timeoutMs` with a message naming the event.
 * With `{ all: true }` it resolves with the argument array instead.
 */
export function waitFor(emitter, event, timeoutMs = 3000, predicate = () => true, { all = false } = {}) {
  return new Promise((resolve, reject) => {
    let unbind = () => {};
    const timer = setTimeout(() => {
      unbind();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    unbind = bindOnce(emitter, event, (...args) => {
      let ok;
      try {
        ok = predicate(...args);
      } catch (e) {
        ok = false;
      }
      if (!ok) return;
      clearTimeout(timer);
      unbind();
      resolve(all ? args : args[0]);
    });
  });
}

/**
 * Waits for whichever of several events comes first.
 * `specs` is a list of [emitter, event, predicate?]; resolves with
 * {index, args} of the first match; rejects after timeoutMs.
 */
export function waitForFirst(specs, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const unbinds = [];
    const cleanup = () => unbinds.forEach((u) => u());
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for any of ${specs.map((s) => `"${s[1]}"`).join(", ")}`));
    }, timeoutMs);
    specs.forEach(([emitter, event, predicate], index) => {
      unbinds.push(
        bindOnce(emitter, event, (...args) => {
          let ok = true;
          if (predicate) {
            try {
              ok = predicate(...args);
            } catch {
              ok = false;
            }
          }
          if (!ok) return;
          clearTimeout(timer);
          cleanup();
          resolve({ index, args });
        }),
      );
    });
  });
}

/** Resolves when `fn()` is truthy (polled every 20 ms); rejects after timeoutMs. */
export async function waitUntil(fn, timeoutMs = 3000, what = "condition") {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Records every `event` emitted (argument arrays). `stop()` unbinds. */
export function collect(emitter, event) {
  const seen = [];
  const unbind = bindOnce(emitter, event, (...args) => seen.push(args));
  seen.stop = unbind;
  /** first arguments only */
  seen.data = () => seen.map((a) => a[0]);
  return seen;
}

/**
 * The close/error code carried by a pusher-js connection `error` event,
 * whichever of its shapes it has:
 *   {type:"PusherError", data:{code, message}}                 (pusher:error frame or close frame)
 *   {type:"WebSocketError", error:{type:"PusherError", data:{code}}}  (refused/backoff callbacks)
 */
export function errorCode(err) {
  if (!err || typeof err !== "object") return undefined;
  if (err.data && typeof err.data === "object" && "code" in err.data) return err.data.code;
  if (err.error && typeof err.error === "object") return errorCode(err.error);
  return undefined;
}

// ---------------------------------------------------------------------------
// Raw HTTP API access (for error cases the SDK refuses to produce)

/**
 * Sends a signed request with `sdk`'s credentials, exactly as the SDK would,
 * but lets the test tamper with it. Returns {status, headers, text, json}.
 *   opts.method, opts.path (relative to /apps/{id}), opts.params, opts.body (string|object|undefined),
 *   opts.tamper(url: URL) to modify the signed URL before sending.
 */
export async function rawRequest(sdk, { method = "GET", path: p, params, body, tamper, headers = {} }) {
  const fullPath = sdk.config.prefixPath(p);
  const bodyText = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const qs = sdk.createSignedQueryString({ method, path: fullPath, params, body: bodyText });
  const url = new URL(`${sdk.config.getBaseURL()}${fullPath}?${qs}`);
  if (tamper) tamper(url);
  const h = { ...headers };
  if (bodyText !== undefined && !h["content-type"]) h["content-type"] = "application/json";
  const res = await fetch(url, { method, body: bodyText, headers: h, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Awaits an SDK call that must fail; returns the RequestError (with .status, .body). */
export async function expectRequestError(promise) {
  try {
    const res = await promise;
    const text = await res.text().catch(() => "");
    throw new Error(`expected an HTTP error, got ${res.status} ${text}`);
  } catch (e) {
    if (e && e.name === "PusherRequestError") return e;
    if (e && typeof e.status === "number" && "url" in e) return e;
    throw e;
  }
}

/** Parses the JSON body of an SDK response, checking status 200 and Content-Type. */
export async function okJson(promise) {
  const res = await promise;
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}`);
  const ct = res.headers.get("content-type") || "";
  if (!ct.startsWith("application/json")) throw new Error(`expected application/json, got "${ct}"`);
  return res.json();
}

// ---------------------------------------------------------------------------
// The server

/**
 * Registers before/after/afterEach hooks that start a pushi server for the
 * enclosing describe() block and returns a handle whose fields are valid once
 * the before hook has run.
 *   opts.apps: app list (default DEFAULT_APPS)
 *   opts.env: extra environment for the server (e.g. {PUSHI_ACTIVITY_TIMEOUT: "2"})
 */
export function useServer(opts = {}) {
  const apps = opts.apps ?? DEFAULT_APPS;
  const srv = new ServerHandle(apps, opts.env ?? {});
  before(() => srv.start(), { timeout: 20000 });
  afterEach(() => srv.disconnectAll(), { timeout: 10000 });
  after(() => srv.stop(), { timeout: 10000 });
  return srv;
}

class ServerHandle {
  constructor(apps, env) {
    this.apps = apps;
    this.env = env;
    this.clients = new Set();
    this.raws = new Set();
    this.logs = "";
    this.proc = null;
    this.exited = null;
  }

  /** Last part of the server's stderr/stdout, for failure messages. */
  logTail(max = 6000) {
    const s = this.logs;
    return s.length > max ? "…" + s.slice(s.length - max) : s;
  }

  async start() {
    const bin = binaryPath();
    if (!fs.existsSync(bin)) {
      throw new Error(
        `pushi binary not found at ${bin}. Build it first: (cd ${path.resolve(HERE, "../..")} && go build -o bin/pushi ./cmd/pushi), or set PUSHI_BIN.`,
      );
    }
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pushi-node-"));
    const appsFile = path.join(this.tmp, "apps.json");
    fs.writeFileSync(appsFile, JSON.stringify({ apps: this.apps }, null, 2));
    const [apiPort, wsPort] = await twoFreePorts();
    this.apiPort = apiPort;
    this.wsPort = wsPort;
    const env = {
      ...process.env,
      APP_HOST: "127.0.0.1",
      APP_PORT: String(apiPort),
      SERVER_HOST: "127.0.0.1",
      SERVER_PORT: String(wsPort),
      PUSHI_APPS_FILE: appsFile,
      PUSHI_DB: path.join(this.tmp, "pushi.db"),
      ...this.env,
    };
    this.proc = spawn(bin, [], { env, stdio: ["ignore", "pipe", "pipe"] });
    const append = (chunk) => {
      this.logs += chunk.toString();
      if (this.logs.length > 200000) this.logs = this.logs.slice(-100000);
    };
    this.proc.stdout.on("data", append);
    this.proc.stderr.on("data", append);
    this.exited = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      this.proc.on("error", (err) => {
        this.exitInfo = { error: err };
        resolve(this.exitInfo);
      });
    });

    const deadline = Date.now() + 10000;
    for (;;) {
      if (this.exitInfo) {
        throw new Error(
          `pushi exited during startup (${JSON.stringify(this.exitInfo)}). Output:\n${this.logTail()}`,
        );
      }
      try {
        const res = await fetch(`http://127.0.0.1:${apiPort}/health`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`pushi did not answer GET /health with 200 within 10 s. Output:\n${this.logTail()}`);
      }
      await sleep(50);
    }
  }

  async stop() {
    await this.disconnectAll();
    if (this.proc && !this.exitInfo) {
      const t0 = Date.now();
      this.proc.kill("SIGTERM");
      const killer = setTimeout(() => {
        if (!this.exitInfo) this.proc.kill("SIGKILL");
      }, 3000);
      await this.exited;
      clearTimeout(killer);
      if (process.env.PUSHI_TEST_DEBUG) console.error(`pushi stopped in ${Date.now() - t0} ms: ${JSON.stringify(this.exitInfo)}`);
    }
    if (this.tmp) fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Disconnects every pusher-js client created since the last call. */
  async disconnectAll() {
    const list = [...this.clients];
    this.clients.clear();
    const raws = [...this.raws];
    this.raws.clear();
    for (const r of raws) r.close();
    for (const c of list) {
      try {
        c.disconnect();
      } catch {
        /* already gone */
      }
    }
    // give the server a moment to process the closes so tests stay independent
    if (list.length || raws.length) await sleep(50);
  }

  app(name) {
    const a = this.apps.find((x) => x.name === name);
    if (!a) throw new Error(`no app named ${name}`);
    return a;
  }

  /** A `pusher` (Node server SDK) instance for app `name`; overrides go to the constructor. */
  sdk(name = "basic", overrides = {}) {
    const a = this.app(name);
    return new PusherServer({
      appId: a.id,
      key: a.key,
      secret: a.secret,
      host: "127.0.0.1",
      port: String(this.apiPort),
      useTLS: false,
      timeout: 5000,
      encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_BASE64,
      ...overrides,
    });
  }

  /**
   * A pusher-js client for app `name` (connects immediately).
   *   opts.user: {user_id, user_info?} → channel_data for presence channels
   *   opts.userData: {id, user_info?, watchlist?} → what signin() authenticates
   *   opts.channelAuth(params, sdk) → override the authorisation result
   *   opts.userAuth(params, sdk) → override the signin result
   *   opts.key: override the app key (e.g. unknown key)
   *   opts.pusherOptions: extra pusher-js options
   */
  client(name = "basic", opts = {}) {
    const a = this.apps.find((x) => x.name === name);
    if (!a && !opts.key) throw new Error(`no app named ${name}`);
    const key = opts.key ?? a.key;
    const sdk = a ? this.sdk(name) : null;
    const client = new PusherClient(key, {
      cluster: "local",
      wsHost: "127.0.0.1",
      wsPort: this.wsPort,
      wssPort: this.wsPort,
      forceTLS: false,
      enabledTransports: ["ws", "wss"],
      disableStats: true,
      channelAuthorization: {
        customHandler: (params, cb) => {
          try {
            if (opts.channelAuth) return cb(null, opts.channelAuth(params, sdk));
            const presence = params.channelName.startsWith("presence-");
            const data = presence ? (opts.user ?? { user_id: "anonymous" }) : undefined;
            cb(null, sdk.authorizeChannel(params.socketId, params.channelName, data));
          } catch (e) {
            cb(e, null);
          }
        },
      },
      userAuthentication: {
        customHandler: (params, cb) => {
          try {
            if (opts.userAuth) return cb(null, opts.userAuth(params, sdk));
            cb(null, sdk.authenticateUser(params.socketId, opts.userData ?? { id: "anonymous" }));
          } catch (e) {
            cb(e, null);
          }
        },
      },
      ...(opts.pusherOptions ?? {}),
    });
    this.clients.add(client);
    return client;
  }

  /**
   * A raw WebSocket to `path` on the WebSocket listener (default: app `basic`
   * with protocol 7), closed after the test. See rawws.mjs.
   */
  async raw(pathOrApp = "basic", { headers } = {}) {
    const p = pathOrApp.startsWith("/")
      ? pathOrApp
      : `/app/${this.app(pathOrApp).key}?protocol=7&client=js&version=8.6.0&flash=false`;
    const ws = await RawWS.connect(this.wsPort, p, { headers });
    this.raws.add(ws);
    return ws;
  }

  /** A raw WebSocket that has received pusher:connection_established; resolves with [ws, socket_id]. */
  async rawConnected(app = "basic") {
    const ws = await this.raw(app);
    const m = await ws.next((x) => x.event === "pusher:connection_established");
    return [ws, JSON.parse(m.data).socket_id];
  }

  /** A client that has reached `connected`. */
  async connected(name = "basic", opts = {}) {
    const c = this.client(name, opts);
    if (c.connection.state !== "connected") {
      await waitFor(c.connection, "connected", 5000);
    }
    return c;
  }

  /** Subscribes and resolves with the channel once `pusher:subscription_succeeded` arrived. */
  async subscribe(client, channelName, timeoutMs = 3000) {
    const ch = client.subscribe(channelName);
    if (ch.subscribed) return ch;
    const { index, args } = await waitForFirst(
      [
        [ch, "pusher:subscription_succeeded"],
        [ch, "pusher:subscription_error"],
      ],
      timeoutMs,
    );
    if (index === 1) throw new Error(`subscription to ${channelName} failed: ${JSON.stringify(args[0])}`);
    return ch;
  }

  /** Signs `client` in and resolves with the signin_success data once pusher-js holds the user. */
  async signin(client, timeoutMs = 3000) {
    const first = waitForFirst(
      [
        [client.connection, "message", (m) => m.event === "pusher:signin_success"],
        [client.connection, "error"],
      ],
      timeoutMs,
    );
    client.signin();
    const { index, args } = await first;
    if (index === 1) throw new Error(`signin failed: ${JSON.stringify(args[0])}`);
    // pusher-js subscribes to #server-to-user-<id> right after signin_success
    await waitUntil(
      () => client.user.serverToUserChannel && client.user.serverToUserChannel.subscribed,
      timeoutMs,
      "the #server-to-user- subscription",
    );
    return args[0].data;
  }

  /**
   * node:test `it` whose failures carry the tail of the server's output.
   * Every test is bounded (default 15 s).
   */
  it(name, fn, { timeout = 15000, skip, only } = {}) {
    return nodeIt(name, { timeout, skip, only }, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        const exited = this.exitInfo ? `\n!!! pushi is no longer running: ${JSON.stringify(this.exitInfo)}` : "";
        const extra = `${exited}\n--- pushi output (tail) ---\n${this.logTail(3000)}\n--- end ---`;
        if (e && typeof e === "object") {
          try {
            const stack = e.stack; // read first: V8 formats the stack lazily from the message
            e.message = String(e.message) + extra;
            if (typeof stack === "string") e.stack = stack + extra;
          } catch {
            /* read-only */
          }
        }
        throw e;
      }
    });
  }
}

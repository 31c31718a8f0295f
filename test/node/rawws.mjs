// A minimal WebSocket client (RFC 6455, client side) for the wire-level
// tests: pusher-js hides the exact frames, these tests need to see them.
// Text and binary messages, close codes, ping/pong; no extensions.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import http from "node:http";

export class RawWS extends EventEmitter {
  /** Resolves once the upgrade succeeded. */
  static connect(port, path, { headers = {}, timeoutMs = 3000 } = {}) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: "127.0.0.1",
        port,
        path,
        headers: {
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
          "Sec-WebSocket-Version": "13",
          ...headers,
        },
      });
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`WebSocket upgrade to ${path} timed out`));
      }, timeoutMs);
      req.on("upgrade", (res, socket, head) => {
        clearTimeout(timer);
        resolve(new RawWS(socket, head));
      });
      req.on("response", (res) => {
        clearTimeout(timer);
        res.resume();
        reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
      });
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end();
    });
  }

  constructor(socket, head) {
    super();
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.messages = []; // every text message, parsed as JSON when possible
    this.closed = null; // {code, reason} once a close frame arrived or the socket ended
    socket.setNoDelay(true);
    socket.on("data", (d) => this._data(d));
    socket.on("close", () => this._ended());
    socket.on("error", () => this._ended());
    if (head && head.length) this._data(head);
  }

  _ended() {
    if (!this.closed) {
      this.closed = { code: 1006, reason: "" };
      this.emit("close", this.closed);
    }
  }

  _data(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      let mask;
      if (masked) {
        if (this.buf.length < off + 4) return;
        mask = this.buf.subarray(off, off + 4);
        off += 4;
      }
      if (this.buf.length < off + len) return;
      let payload = Buffer.from(this.buf.subarray(off, off + len));
      this.buf = this.buf.subarray(off + len);
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      this._frame(opcode, payload);
    }
  }

  _frame(opcode, payload) {
    if (opcode === 0x1) {
      const text = payload.toString("utf8");
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        msg = { unparsable: text };
      }
      msg.__raw = text;
      this.messages.push(msg);
      this.emit("message", msg);
    } else if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString("utf8") : "";
      if (!this.closed) {
        this.closed = { code, reason };
        try {
          this._send(0x8, payload.subarray(0, 2));
        } catch {
          /* gone */
        }
        this.emit("close", this.closed);
      }
      this.socket.end();
    } else if (opcode === 0x9) {
      this._send(0xa, payload);
    } else if (opcode === 0xa) {
      this.emit("pong", payload);
    }
  }

  _send(opcode, payload) {
    const mask = randomBytes(4);
    let header;
    if (payload.length < 126) {
      header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    } else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
    this.socket.write(Buffer.concat([header, mask, body]));
  }

  sendText(text) {
    this._send(0x1, Buffer.from(text, "utf8"));
  }

  sendJSON(obj) {
    this.sendText(JSON.stringify(obj));
  }

  sendBinary(buf) {
    this._send(0x2, Buffer.from(buf));
  }

  ping(data = "") {
    this._send(0x9, Buffer.from(data));
  }

  close(code = 1000) {
    if (this.socket.destroyed) return;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code, 0);
    try {
      this._send(0x8, p);
    } catch {
      /* gone */
    }
    setTimeout(() => this.socket.destroy(), 200).unref();
  }

  /** Resolves with the next message (or an already received one from index `from`) matching pred. */
  next(pred = () => true, timeoutMs = 3000, { from = 0 } = {}) {
    const existing = this.messages.slice(from).find(pred);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onMsg = (m) => {
        if (!pred(m)) return;
        clearTimeout(timer);
        this.off("message", onMsg);
        resolve(m);
      };
      const timer = setTimeout(() => {
        this.off("message", onMsg);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a matching frame; got: ${this.messages.map((m) => m.__raw).join(" | ")}`));
      }, timeoutMs);
      this.on("message", onMsg);
    });
  }

  /** Resolves with {code, reason} of the close. */
  waitClose(timeoutMs = 3000) {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for a close`)), timeoutMs);
      this.once("close", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
  }
}

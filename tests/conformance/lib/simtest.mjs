// SPDX-License-Identifier: MIT
// simtest: test helpers for ari-sim with no npm dependencies.
//
// - startSim(args): spawns the ari-sim binary ($DIALER_BUILD/ari-sim, else
//   build/debug/ari-sim) on a free port; stop() sends SIGTERM and reports
//   whether the process exited cleanly and without sanitizer reports.
// - wsConnect(port, path): a minimal RFC 6455 client over node:net that
//   collects the text frames (one JSON event each) and lets a test wait for
//   a number of events or for a matching one.
// - http(port, method, url, body): fetch() with Basic auth.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = process.env.DIALER_ROOT || path.resolve(here, '../../..');
export const sharedDir = process.env.DIALER_SHARED || path.resolve(repoRoot, '../shared');

export function simBinary() {
  const b = process.env.DIALER_BUILD || path.join(repoRoot, 'build/debug');
  return path.join(b, 'ari-sim');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startSim(args = [], { user = 'asterisk', password = 'asterisk' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ari-sim-'));
  const portFile = path.join(dir, 'port');
  const logFile = path.join(dir, 'sim.log');
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(simBinary(), ['--port', '0', '--port-file', portFile, '--user', user,
    '--password', password, ...args], { stdio: ['ignore', log, log] });
  let exited = null;
  const exitP = new Promise((res) => proc.on('exit', (code, sig) => { exited = { code, sig }; res(exited); }));
  for (let i = 0; i < 200 && !fs.existsSync(portFile); i++) {
    if (exited) break;
    await sleep(25);
  }
  if (!fs.existsSync(portFile)) {
    throw new Error('ari-sim did not start: ' + fs.readFileSync(logFile, 'utf8'));
  }
  const port = parseInt(fs.readFileSync(portFile, 'utf8'), 10);
  return {
    port, dir, proc, user, password,
    log: () => fs.readFileSync(logFile, 'utf8'),
    signal: (s) => proc.kill(s),
    async stop() {
      if (!exited) proc.kill('SIGTERM');
      const r = await Promise.race([exitP, sleep(15000).then(() => null)]);
      const text = fs.readFileSync(logFile, 'utf8');
      const sanitizer = /AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/.test(text);
      const ok = r !== null && r.code === 0 && !sanitizer;
      if (!ok) {
        console.error('ari-sim exit', r, sanitizer ? 'sanitizer report:' : '');
        console.error(text.split('\n').filter((l) => !/ INFO /.test(l)).slice(-60).join('\n'));
      } else {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      return ok;
    },
  };
}

export async function http(port, method, url, { body, contentType, auth = 'asterisk:asterisk', headers = {} } = {}) {
  const h = { ...headers };
  if (auth) h.Authorization = 'Basic ' + Buffer.from(auth).toString('base64');
  let data;
  if (body !== undefined && body !== null) {
    if (typeof body === 'string') {
      data = body;
      h['Content-Type'] = contentType || 'application/x-www-form-urlencoded';
    } else {
      data = JSON.stringify(body);
      h['Content-Type'] = contentType || 'application/json';
    }
  }
  const res = await fetch(`http://127.0.0.1:${port}${url}`, { method, headers: h, body: data });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: res.status, statusText: res.statusText, headers: res.headers, text, json };
}

// A WebSocket client: events[] fills as frames arrive.
export function wsConnect(port, urlPath, { protocol, auth } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    const ws = {
      events: [], raw: [], status: 0, headers: {}, closed: false, body: '',
      waiters: [],
      notify() { for (const w of [...this.waiters]) w(); },
      async waitCount(n, timeout = 5000) {
        const end = Date.now() + timeout;
        while (this.events.length < n && Date.now() < end && !this.closed) {
          await new Promise((r) => { this.waiters.push(r); setTimeout(r, 20); });
          this.waiters = [];
        }
        return this.events.length >= n;
      },
      async waitFor(pred, timeout = 5000, from = 0) {
        const end = Date.now() + timeout;
        for (;;) {
          const i = this.events.findIndex((e, k) => k >= from && pred(e));
          if (i >= 0) return this.events[i];
          if (Date.now() >= end || this.closed) return null;
          await new Promise((r) => { this.waiters.push(r); setTimeout(r, 20); });
          this.waiters = [];
        }
      },
      close() {
        if (this.closed) return;
        // Masked close frame, code 1000.
        const mask = crypto.randomBytes(4);
        const payload = Buffer.from([0x03, 0xe8]);
        for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
        try { sock.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload])); } catch { /* gone */ }
        setTimeout(() => sock.destroy(), 50);
        this.closed = true;
      },
      ping() {
        const mask = crypto.randomBytes(4);
        sock.write(Buffer.concat([Buffer.from([0x89, 0x80]), mask]));
      },
      socket: sock,
    };
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let resolved = false;
    const done = () => { if (!resolved) { resolved = true; resolve(ws); } };
    sock.on('connect', () => {
      let req = `GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
      if (protocol) req += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
      if (auth) req += `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
      sock.write(req + '\r\n');
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        const lines = head.split('\r\n');
        ws.status = parseInt(lines[0].split(' ')[1], 10);
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          ws.headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
        }
        buf = buf.subarray(end + 4);
        if (ws.status !== 101) {
          ws.body = buf.toString();
          ws.closed = true;
          sock.destroy();
          done();
          return;
        }
        const expect = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        ws.acceptOk = ws.headers['sec-websocket-accept'] === expect;
        upgraded = true;
        done();
      }
      for (;;) {
        if (buf.length < 2) break;
        const op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) break;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 1) {
          const text = payload.toString();
          ws.raw.push(text);
          ws.events.push(JSON.parse(text));
        } else if (op === 8) {
          ws.closed = true;
        } else if (op === 10) {
          ws.pong = true;
        }
      }
      ws.notify();
    });
    sock.on('close', () => { ws.closed = true; ws.notify(); done(); });
    sock.on('error', (e) => { ws.error = e; ws.closed = true; ws.notify(); done(); });
  });
}

// ---------------------------------------------------------------------------
// Swagger checks: every event type exists in events.json and every required
// property of the event and of the models it carries is present.

export function loadModels() {
  const dir = path.join(sharedDir, 'ari/api-docs');
  const models = {};
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json') || f === 'resources.json') continue;
    const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    Object.assign(models, d.models || {});
  }
  return models;
}

// Returns a list of problems with obj as model name (recursing into models).
export function checkModel(models, name, obj, where = name) {
  const out = [];
  const m = models[name];
  if (!m) return [`${where}: unknown model ${name}`];
  const props = { ...(m.properties || {}) };
  // Inherit from the base models (Event -> Message).
  for (const [base, bm] of Object.entries(models)) {
    if ((bm.subTypes || []).includes(name)) {
      Object.assign(props, bm.properties || {});
      for (const [b2, bm2] of Object.entries(models)) {
        if ((bm2.subTypes || []).includes(base)) Object.assign(props, bm2.properties || {});
      }
    }
  }
  for (const [p, spec] of Object.entries(props)) {
    const v = obj[p];
    if (spec.required && (v === undefined || v === null)) out.push(`${where}.${p}: required, missing`);
    if (v === undefined || v === null) continue;
    const t = spec.type;
    const list = /^List\[(.+)\]$/.exec(t);
    if (list) {
      if (!Array.isArray(v)) out.push(`${where}.${p}: expected a list`);
      else if (models[list[1]]) v.forEach((x, i) => out.push(...checkModel(models, list[1], x, `${where}.${p}[${i}]`)));
    } else if (models[t]) {
      out.push(...checkModel(models, t, v, `${where}.${p}`));
    } else if (t === 'string' && typeof v !== 'string') {
      out.push(`${where}.${p}: expected a string`);
    } else if ((t === 'int' || t === 'long') && !Number.isInteger(v)) {
      out.push(`${where}.${p}: expected an integer`);
    } else if (t === 'boolean' && typeof v !== 'boolean') {
      out.push(`${where}.${p}: expected a boolean`);
    }
  }
  return out;
}

export function checkEvent(models, ev) {
  if (!ev || typeof ev.type !== 'string') return ['event without type'];
  if (!models[ev.type]) return [`event type ${ev.type} is not in events.json`];
  return checkModel(models, ev.type, ev, ev.type);
}

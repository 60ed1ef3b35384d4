// SPDX-License-Identifier: MIT
// replay: drives ari-sim with the requests of each reference capture (a real
// Asterisk 22.10.1, ../shared/ari/captures-asterisk-22) and compares what
// comes back with what the capture recorded.
//
// For every capture the simulator is started with the capture's dialplan
// contexts (sim/scenarios/extensions.conf) and a time scale that keeps the
// order of the capture's events while running ten times faster. The app
// WebSocket (and, for the subscribeAll view, a second one) is opened as in
// the capture; each recorded request is sent once as many app events have
// arrived as had arrived before it in the capture.
//
// Compared, ignoring ids the server generated, timestamps and the Local
// channel counter in names: the event types and every field of every event
// (channel state, dialplan location, caller ids, causes and cause_txt,
// dialstatus, digits, variables, playback and recording states, bridge
// members), per channel in order (events of different channels may
// interleave differently, as they do between Asterisk's threads), and the
// status and body of every HTTP response. DeviceStateChanged events of the
// subscribeAll view are not modelled and are left out. Every event is also
// checked against events.json (type known, required fields present).
//
// Usage: node replay.mjs [capture-name-filter]; exit status 0 when all pass.
import fs from 'node:fs';
import path from 'node:path';
import { checkEvent, http, loadModels, sharedDir, sleep, startSim, wsConnect } from './lib/simtest.mjs';

const capDir = path.join(sharedDir, 'ari/captures-asterisk-22');
const filter = process.argv[2] || '';
const TIME_SCALE = 0.1;
// Captures whose client acts while a dialplan application is running (11:
// the hang-up during SendDTMF, 250 ms of digit) replay in real time: at 0.1
// the digit lasts 25 ms, and a loaded machine's request arrives after ari-sim
// has moved on to the next application.
const REAL_TIME = /^11_/;
const models = loadModels();

// ---------------------------------------------------------------------------
// Normalisation

function normName(s) {
  // Local/s@callee-answer-00000002;1 -> Local/s@callee-answer-N;1
  return typeof s === 'string' ? s.replace(/-[0-9a-f]{8}(;[12])/g, '-N$1') : s;
}

function normStr(s, ids) {
  if (typeof s !== 'string') return s;
  let r = normName(s);
  for (const [id, role] of ids) r = r.split(id).join(role);
  // AMD measures silence in frames; the simulator reports round numbers.
  r = r.replace(/HUMAN-\d+-(\d+)/g, 'HUMAN-x-$1');
  return r;
}

function idRole(ids, id) {
  if (typeof id !== 'string') return id;
  if (!/^(\w+-)?\d{9,}\.\d+$/.test(id)) return id; // client-chosen ids are kept
  if (!ids.has(id)) ids.set(id, `gen${ids.size}`);
  return ids.get(id);
}

function normChannel(c, ids) {
  if (!c || typeof c !== 'object') return c;
  return {
    id: idRole(ids, c.id), name: normName(c.name), state: c.state, protocol_id: c.protocol_id,
    caller: c.caller, connected: c.connected, accountcode: c.accountcode,
    dialplan: c.dialplan && {
      context: c.dialplan.context, exten: c.dialplan.exten, priority: c.dialplan.priority,
      app_name: c.dialplan.app_name, app_data: normStr(c.dialplan.app_data, ids),
    },
    language: c.language,
  };
}

function normEvent(e, ids) {
  const out = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'timestamp' || k === 'asterisk_id') continue;
    if (['channel', 'peer', 'caller', 'replace_channel', 'forwarded'].includes(k) && v && typeof v === 'object') {
      out[k] = normChannel(v, ids);
    } else if (k === 'bridge' && v) {
      out[k] = { ...v, creationtime: undefined, channels: (v.channels || []).map((x) => idRole(ids, x)) };
    } else if (k === 'playback' || k === 'recording') {
      out[k] = { ...v, target_uri: normStr(v.target_uri, ids) };
    } else if (k === 'value' || k === 'dialplan_app_data') {
      out[k] = normStr(v, ids);
    } else if (k === 'args') {
      out[k] = v.map((x) => normStr(x, ids));
    } else {
      out[k] = v;
    }
  }
  return out;
}

// Events are compared per "thread": the channel they are about.
function eventKey(e) {
  const c = e.channel || e.peer;
  if (c) return 'chan:' + c.id;
  if (e.playback) return 'chan:' + e.playback.target_uri.replace(/^channel:/, '');
  if (e.recording) return 'chan:' + e.recording.target_uri.replace(/^channel:/, '');
  if (e.bridge) return 'bridge:' + e.bridge.id;
  return 'app:' + e.type;
}

function normBody(b, ids) {
  if (b === null || b === undefined) return null;
  if (Array.isArray(b)) return b.map((x) => normBody(x, ids));
  if (typeof b !== 'object') return b;
  if ('dialplan' in b && 'state' in b) return normChannel(b, ids);
  const out = {};
  for (const [k, v] of Object.entries(b)) {
    if (['creationtime', 'timestamp', 'asterisk_id'].includes(k)) continue;
    out[k] = typeof v === 'object' ? normBody(v, ids) : normStr(v, ids);
  }
  return out;
}

// Bodies whose content is machine-specific are compared by shape only.
function shapeOnly(url) {
  return /\/asterisk\/(info|ping)/.test(url);
}

function shape(v) {
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v).sort()) o[k] = shape(v[k]);
    return o;
  }
  return typeof v;
}

const j = (x) => JSON.stringify(x);

// ---------------------------------------------------------------------------

function groupBy(events, ids) {
  const groups = new Map();
  for (const e of events) {
    const n = normEvent(e, ids);
    const k = eventKey(n);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(n);
  }
  return groups;
}

function compareStreams(label, expected, got, problems) {
  const idsE = new Map();
  const idsG = new Map();
  const ge = groupBy(expected, idsE);
  const gg = groupBy(got, idsG);
  const keys = new Set([...ge.keys(), ...gg.keys()]);
  for (const k of keys) {
    const a = ge.get(k) || [];
    const b = gg.get(k) || [];
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (j(a[i]) !== j(b[i])) {
        problems.push(`${label} ${k} #${i}:\n    capture: ${j(a[i])}\n    ari-sim: ${j(b[i])}`);
        break;
      }
    }
  }
  if (expected.length !== got.length) {
    problems.push(`${label}: ${expected.length} events in the capture, ${got.length} from ari-sim`);
  }
}

function wsAuthFromPath(p) {
  const m = /api_key=([^&]+)/.exec(p);
  return m ? decodeURIComponent(m[1]) : 'dialer:dialer';
}

async function replay(file) {
  const cap = JSON.parse(fs.readFileSync(path.join(capDir, file), 'utf8'));
  const problems = [];
  const seq = cap.sequence;
  const allSeq = cap.subscribe_all_events || [];
  const scale = REAL_TIME.test(file) ? 1 : TIME_SCALE;
  const sim = await startSim(['--time-scale', String(scale)], { user: 'dialer', password: 'dialer' });
  const sockets = new Map(); // capture ws name -> client
  const expected = new Map(); // ws name -> events
  for (const it of seq) {
    if (it.kind === 'event') {
      if (!expected.has(it.ws)) expected.set(it.ws, []);
      expected.get(it.ws).push(it.event);
    }
  }
  // The subscribeAll socket is opened first, as in the capture.
  const allOpen = allSeq.find((x) => x.kind === 'ws_open');
  let all = null;
  if (allOpen) {
    all = await wsConnect(sim.port, allOpen.path);
    if (all.status !== 101) problems.push(`subscribeAll socket: HTTP ${all.status}`);
  }
  let seen = new Map(); // ws name -> events counted so far in the capture
  const pending = [];
  for (let i = 0; i < seq.length; i++) {
    const it = seq[i];
    if (it.kind === 'event') {
      seen.set(it.ws, (seen.get(it.ws) || 0) + 1);
      continue;
    }
    if (it.kind === 'ws_open') {
      // Events the capture's other sockets saw before this one opened.
      for (const [name, n] of seen) {
        if (sockets.has(name)) await sockets.get(name).waitCount(n, 5000);
      }
      const ws = await wsConnect(sim.port, it.path);
      if (ws.status !== 101) problems.push(`ws ${it.ws}: HTTP ${ws.status}`);
      if (ws.headers['sec-websocket-protocol'] !== undefined) {
        problems.push(`ws ${it.ws}: unrequested Sec-WebSocket-Protocol in the answer`);
      }
      sockets.set(it.ws, ws);
      await sleep(30);
      continue;
    }
    if (it.kind === 'ws_closed') {
      const ws = sockets.get(it.ws);
      if (ws) {
        await ws.waitCount(seen.get(it.ws) || 0, 5000);
        ws.close();
      }
      continue;
    }
    if (it.kind === 'note' && /wrong api_key/.test(it.text)) {
      const bad = await wsConnect(sim.port, '/ari/events?app=dialer&api_key=dialer:wrong');
      if (bad.status !== 401) problems.push(`ws with a wrong api_key: HTTP ${bad.status}, expected 401`);
      continue;
    }
    if (it.kind !== 'http_request') continue;
    for (const [name, n] of seen) {
      const ws = sockets.get(name);
      if (ws && !(await ws.waitCount(n, 5000))) {
        problems.push(`before ${it.method} ${it.url}: ${ws.events.length} of ${n} ${name} events arrived`);
      }
    }
    const resp = seq.slice(i + 1).find((x) => x.kind === 'http_response' && x.url === it.url && x.method === it.method);
    const r = await http(sim.port, it.method, it.url, { body: it.body, auth: 'dialer:dialer' });
    pending.push({ it, resp, r });
  }
  // Wait for the rest, then a little longer for anything extra.
  for (const [name, evs] of expected) {
    const ws = sockets.get(name);
    if (ws && !ws.closed) await ws.waitCount(evs.length, 8000);
  }
  if (all) {
    const want = allSeq.filter((x) => x.kind === 'event' && x.event.type !== 'DeviceStateChanged').length;
    await all.waitCount(want, 8000);
  }
  await sleep(300);

  // HTTP responses (ids of each side numbered separately).
  const idsCap = new Map();
  const idsSim = new Map();
  for (const { it, resp, r } of pending) {
    if (!resp) continue;
    if (r.status !== resp.status) {
      problems.push(`${it.method} ${it.url}: status ${r.status}, capture ${resp.status}`);
      continue;
    }
    if (r.statusText !== resp.reason) {
      problems.push(`${it.method} ${it.url}: reason "${r.statusText}", capture "${resp.reason}"`);
    }
    const a = shapeOnly(it.url) ? shape(resp.body) : normBody(resp.body, idsCap);
    const b = shapeOnly(it.url) ? shape(r.json) : normBody(r.json, idsSim);
    // A play answers "queued" or, if the playback already began, "playing".
    for (const x of [a, b]) {
      if (x && x.media_uri && x.state === 'playing') x.state = 'queued';
    }
    if (j(a) !== j(b)) {
      problems.push(`${it.method} ${it.url}: body\n    capture: ${j(a)}\n    ari-sim: ${j(b)}`);
    }
  }
  // Event streams.
  for (const [name, evs] of expected) {
    const ws = sockets.get(name);
    compareStreams(`[${name}]`, evs, ws ? ws.events : [], problems);
  }
  if (all) {
    const want = allSeq.filter((x) => x.kind === 'event' && x.event.type !== 'DeviceStateChanged').map((x) => x.event);
    compareStreams('[subscribeAll]', want, all.events, problems);
  }
  // Swagger.
  for (const ws of [...sockets.values(), all].filter(Boolean)) {
    for (const e of ws.events) {
      for (const p of checkEvent(models, e)) problems.push('swagger: ' + p);
    }
  }
  for (const ws of sockets.values()) ws.close();
  if (all) all.close();
  await sleep(50);
  if (!(await sim.stop())) problems.push('ari-sim did not exit cleanly');
  return problems;
}

const files = fs.readdirSync(capDir).filter((f) => f.endsWith('.json') && f.includes(filter)).sort();
let failed = 0;
for (const f of files) {
  const problems = await replay(f);
  if (problems.length === 0) {
    console.log(`PASS ${f}`);
  } else {
    failed++;
    console.log(`FAIL ${f}`);
    for (const p of problems.slice(0, 25)) console.log('  ' + p);
    if (problems.length > 25) console.log(`  ... ${problems.length - 25} more`);
  }
}
console.log(`${files.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// The wall's trunk, IVR and compliance figures in headless Chromium against a
// real dialerd (private PostgreSQL and Redis, ari-sim as the Asterisk), as a
// supervisor sees them:
//   - no national DNC list is loaded: the banner says the list is missing,
//     and the header's DNC badge agrees with /readyz;
//   - the campaign's trunk has a tile with attempts, channels of its
//     capacity, answer and error rates; it is green while calls go through;
//   - the campaign's flow asks for a key nobody presses: its tile counts the
//     collect's no-input outcomes (agreeing with /metrics) and the callers who
//     hang up during the prompt, with the collect as the top drop-off node;
//   - more callers answer than the campaign has flow ports: the extra calls
//     are abandoned (safe-harbour message), and the abandonment rate over
//     the cap is an alarm in the banner and a red figure on the tile, as the
//     stats route says;
//   - the Asterisk server starts failing every request: the trunk turns red
//     (error burst, server degraded) with an alarm in the banner, and the
//     server's badge comes back to "up" by itself when the fault ends.
// Saves a screenshot of the red wall under the test log directory.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = process.env.DIALER_ROOT ?? process.cwd();
const require = createRequire(join(ROOT, 'tests', 'package.json'));
if (!existsSync(join(ROOT, 'tests/node_modules/playwright-core'))) {
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: join(ROOT, 'tests'), stdio: 'inherit' });
}
const { chromium } = require('playwright-core');

const B = process.env.DIALER_BUILD ?? join(ROOT, 'build/debug');
const RUN = process.env.DIALER_RUN_DIR;
const LOGS = join(B, 'test-logs');
const DB = `test_wall_alarms_${process.pid}`;
const PW = `wall-Pass-${process.pid}`;
const EMAIL = `alarms-${process.pid}@acme.test`;
const TRUNK = 'carrier-wall';
const psqlArgs = ['-h', process.env.DIALER_PG_SOCKDIR, '-p', process.env.DIALER_PG_PORT, '-U', 'dialer'];
const children = [];
let failures = 0;

function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok' : 'FAIL'} - ${what}${ok || !detail ? '' : `: ${detail}`}`);
  if (!ok) failures++;
  return ok;
}

function psql(db, sql, vars = {}) {
  const v = Object.entries(vars).flatMap(([k, x]) => ['-v', `${k}=${x}`]);
  return execFileSync(join(process.env.DIALER_PG_BIN, 'psql'), [...psqlArgs, '-d', db, ...v, '-Atq'],
    { input: sql }).toString().trim();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < end; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function start(cmd, args, env, log) {
  const out = [];
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d) => out.push(d));
  p.stderr.on('data', (d) => out.push(d));
  children.push({ p, out, log });
  return { p, text: () => Buffer.concat(out).toString() };
}

// The flow: a menu nobody answers (no input), then goodbye.
const FLOW = {
  format: 'ivrflow/1', name: 'Wall IVR', start: 'start',
  nodes: {
    start: { type: 'start', props: { triggers: ['outbound_answered'] }, next: { next: 'ask' } },
    ask: {
      type: 'collect',
      props: { prompt: [{ play: 'sound:hello-world' }], choices: ['1', '2'], first_digit_timeout_ms: 1000 },
      next: { 'choice:1': 'bye', 'choice:2': 'bye', noinput: 'bye', nomatch: 'bye' },
    },
    bye: { type: 'hangup', props: {} },
  },
};

// Callees: most answer and listen until the flow hangs up; numbers ending in
// 7-9 hang up after a second (during the menu's prompt).
const SCENARIO = {
  name: 'wall-alarms', seed: 3,
  populations: { default: [{ weight: 1, outcome: 'answer', ring: 0.2, talk: 'forever' }] },
  rules: [
    { number: '*[0-6]', outcome: 'answer', ring: 0.2, talk: 'forever' },
    { number: '*[7-9]', outcome: 'answer', ring: 0.2, talk: 1.0 },
  ],
};

async function main() {
  if (!existsSync(join(ROOT, 'dashboards/web/dist/index.html'))) throw new Error('run make web first');
  mkdirSync(LOGS, { recursive: true });
  psql('postgres', `DROP DATABASE IF EXISTS ${DB}`);
  psql('postgres', `CREATE DATABASE ${DB}`);
  const env = {
    DIALERD_DB_ADMIN_CONNINFO: `host=${process.env.DIALER_PG_SOCKDIR} port=${process.env.DIALER_PG_PORT} user=dialer dbname=${DB}`,
    DIALERD_DB_CONNINFO: `host=${process.env.DIALER_PG_SOCKDIR} port=${process.env.DIALER_PG_PORT} user=dialer_app dbname=${DB}`,
    DIALERD_REDIS_HOST: '127.0.0.1',
    DIALERD_REDIS_PORT: process.env.DIALER_REDIS_PORT,
    DIALERD_HTTP_PORT: '0',
    DIALERD_HTTP_STATIC_DIR: join(ROOT, 'dashboards/web/dist'),
    DIALERD_API_PWHASH_OPS: '1',
    DIALERD_API_PWHASH_MEM: '64k',
    DIALERD_API_JWT_KEYS: 'main=wall-test-secret-0123456789abcdef0123456789',
    DIALERD_NODE_ID: `alarms-${process.pid}`,
  };
  execFileSync(join(B, 'dialerd'), ['migrate'], { env: { ...process.env, ...env } });
  execFileSync(join(B, 'dialerd'), ['bootstrap', '--tenant-slug', 'acme', '--email', EMAIL],
    { env: { ...process.env, ...env }, input: `${PW}\n` });
  const tenant = psql(DB, "SELECT id FROM tenants WHERE slug = 'acme'");
  const def = JSON.stringify(FLOW);
  const flow = psql(DB, `INSERT INTO ivr_flows (tenant_id, name, draft) VALUES (${tenant}, 'Wall IVR', :'def'::jsonb) RETURNING id;`,
    { def });
  psql(DB, `INSERT INTO ivr_flow_revisions (tenant_id, flow_id, revision, definition) VALUES (${tenant}, ${flow}, 1, :'def'::jsonb);
            UPDATE ivr_flows SET latest_revision = 1, published_revision = 1 WHERE id = ${flow};`, { def });
  const settings = JSON.stringify({
    pacing: { mode: 'fixed', cps: 8, max_channels: 60 },
    retry: { max_attempts: 1 },
    trunks: [{ name: TRUNK, endpoint: `PJSIP/{e164}@${TRUNK}`, max_channels: 80 }],
  });
  const campaign = psql(DB, `INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES (${tenant}, 'Menu survey', ${flow}, '${settings}') RETURNING id`);
  const list = psql(DB, `INSERT INTO contact_lists (tenant_id, name) VALUES (${tenant}, 'Survey') RETURNING id`);
  psql(DB, `INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (${tenant}, ${campaign}, ${list})`);
  psql(DB, `INSERT INTO contacts (tenant_id, list_id, number) SELECT ${tenant}, ${list}, '+1212' || (5550000 + g)::text FROM generate_series(0, 1999) g`);
  psql(DB, `UPDATE campaigns SET state = 'running' WHERE id = ${campaign}`);

  const tmp = mkdtempSync(join(tmpdir(), 'wall-alarms-'));
  const scenario = join(tmp, 'scenario.json');
  writeFileSync(scenario, JSON.stringify(SCENARIO));
  const portFile = join(RUN, `ari-sim-alarms-${process.pid}.port`);
  rmSync(portFile, { force: true });
  start(join(B, 'ari-sim'), ['--port', '0', '--port-file', portFile, '--user', 'dialer', '--password', 'pw',
    '--scenario', scenario, '--log-level', 'warn'], {}, 'ari-sim');
  const ariPort = await until('ari-sim', () => existsSync(portFile) && readFileSync(portFile, 'utf8').trim());
  const sim = `http://127.0.0.1:${ariPort}`;
  const dEnv = {
    ...env,
    DIALERD_ARI_URL: sim,
    DIALERD_ARI_USER: 'dialer',
    DIALERD_ARI_PASSWORD: 'pw',
    // No national DNC list is loaded: the wall must say so. Dialing US
    // numbers without it is allowed here so the rest of the wall has calls.
    DIALERD_DIALER_ALLOW_MISSING_DNC: 'true',
    DIALERD_DIALER_POLL: '200ms',
    DIALERD_DNC_ALARM_INTERVAL: '500ms',
    DIALERD_DIALER_PORTS: '10', // fewer flows than live answers: abandoned calls
  };
  const d = start(join(B, 'dialerd'), [], dEnv, 'dialerd');
  const port = await until('dialerd', () => d.text().match(/event=listening .*port=(\d+)/)?.[1]);
  const base = `http://127.0.0.1:${port}`;
  await until('readiness', async () => (await fetch(`${base}/readyz`)).status === 200, 15000);

  const userDir = mkdtempSync(join(tmpdir(), 'wall-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1600, height: 1400 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => check('no page error', false, String(e)));
    await page.goto(base);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', PW);
    await page.click('button[type=submit]');
    await page.waitForSelector(`[data-campaign-id="${campaign}"]`, { timeout: 15000 });

    // 1. The national DNC list: missing, in the banner and the header, as /readyz says.
    const dncAlarm = await page.waitForSelector('[data-alarm="dnc"]', { timeout: 10000 });
    const dncText = await dncAlarm.textContent();
    check('the banner says the national DNC list is missing', /National DNC list \(US\) missing/.test(dncText), dncText);
    const badge = await page.$eval('[data-dnc-state]', (e) => e.dataset.dncState);
    const ready = await (await fetch(`${base}/readyz`)).json();
    check('the header badge agrees with /readyz', badge === 'missing' && ready.checks.dnc.national.state === 'missing',
      `${badge} / ${JSON.stringify(ready.checks.dnc)}`);

    // 2. The trunk: green while calls go through, figures moving, channels of its capacity.
    const trunk = `[data-trunk="${TRUNK}"]`;
    await page.waitForSelector(trunk, { timeout: 15000 });
    const tval = (f) => page.$eval(`${trunk} [data-field="${f}"]`, (e) => Number(e.dataset.value));
    const a0 = await tval('cps_1s');
    await until('trunk attempts per second', async () => (await tval('cps_1s')) > 0, 10000);
    check('the trunk shows attempts per second', true, String(a0));
    const state0 = await page.$eval(trunk, (e) => e.dataset.state);
    check('the trunk is green while calls go through', state0 === 'ok', state0);
    const chLabel = await page.$eval(`${trunk} [data-field="channels"] .label`, (e) => e.textContent);
    const ch = await tval('channels');
    check('channels in use are shown against the trunk capacity', chLabel === 'channels of 80' && ch >= 0 && ch <= 80,
      `${ch} ${chLabel}`);
    const server = await page.waitForSelector('[data-server="default"]', { timeout: 5000 });
    check('the Asterisk server is shown up', (await server.getAttribute('data-status')) === 'up');
    await until('answered calls', async () => (await tval('asr_1m')) > 0, 15000);
    check('the trunk shows its answer rate', true);

    // 3. The flow: no-input outcomes of the collect, callers hanging up in it.
    const ftile = `[data-flow-id="${flow}"]`;
    await page.waitForSelector(ftile, { timeout: 20000 });
    await page.waitForSelector(`${ftile} h2:text("Wall IVR")`, { timeout: 10000 });
    check('the flow tile is named after the flow', true);
    const fval = (f) => page.$eval(`${ftile} [data-field="${f}"]`, (e) => Number(e.dataset.value));
    await until('no-input outcomes', async () => (await fval('noinput')) > 0, 20000);
    check('the collect that times out is counted as no input', true);
    await until('hang-ups in the flow', async () => (await fval('hangups')) > 0, 20000);
    const top = await until('a drop-off node', () => page.$(`${ftile} .dropoffs li[data-node]`), 10000);
    const topNode = await top.getAttribute('data-node');
    check('callers hanging up during the menu make it the top drop-off node', topNode === 'ask', topNode);
    // The same figure as /metrics: the tile lies between two reads.
    const metric = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('dialer_ivr_node_hits_total')
        && l.includes(`flow="${flow}",ivr_node="ask",outcome="noinput"`));
      return line ? Number(line.split(' ').pop()) : -1;
    };
    let agreed = false;
    for (let i = 0; i < 20 && !agreed; i++) {
      const before = await metric();
      const shown = await fval('noinput');
      const after = await metric();
      agreed = before <= shown && shown <= after;
      if (!agreed) await sleep(200);
    }
    check('the no-input count agrees with /metrics', agreed);

    // 4. Abandonment over the cap: in the banner and red on the tile, as the stats route says.
    const ab = await page.waitForSelector(`[data-alarm="ab-${campaign}"].level-alarm`, { timeout: 20000 });
    const abText = await ab.textContent();
    check('abandonment over the cap is an alarm in the banner', abText.startsWith('Menu survey: abandonment')
      && abText.includes('(cap 3.0 %)'), abText);
    const level = await page.$eval(`[data-campaign-id="${campaign}"] [data-field="abandon_rate"]`, (e) => e.dataset.level);
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('dialer.session')).accessToken);
    const st = await (await fetch(`${base}/api/v1/campaigns/${campaign}/stats`,
      { headers: { Authorization: `Bearer ${token}` } })).json();
    check('the tile\'s abandonment figure is red, as the stats route says', level === 'alarm'
      && st.abandoned > 0 && st.abandon_rate >= st.abandon_cap, `${level} ${JSON.stringify(st)}`);

    // 5. The Asterisk server fails every request: the trunk turns red, readable from afar.
    const fault = await fetch(`${sim}/_sim/fault?action=fail&seconds=8`, { method: 'POST' });
    check('fault injected', fault.ok, String(fault.status));
    await page.waitForSelector(`${trunk}[data-state="alarm"]`, { timeout: 15000 });
    check('the failing trunk turns red', true);
    const alarm = await page.waitForSelector(`[data-alarm="trunk-${TRUNK}"]`, { timeout: 5000 });
    const why = await alarm.textContent();
    check('the banner names the trunk and why', why.startsWith(`Trunk ${TRUNK}:`)
      && /calls failing|Asterisk server/.test(why), why);
    const border = await page.$eval(trunk, (e) => getComputedStyle(e).borderTopColor);
    check('the red state is the wall\'s alarm colour', border === 'rgb(255, 82, 82)', border);
    await page.screenshot({ path: join(LOGS, 'wall-alarms.png'), fullPage: true });
    check('screenshot saved', existsSync(join(LOGS, 'wall-alarms.png')), join(LOGS, 'wall-alarms.png'));
    // When the fault ends the server's badge comes back by itself.
    await page.waitForSelector('[data-server="default"][data-status="up"]', { timeout: 30000 });
    check('the server badge returns to up when the fault ends', true);
  } finally {
    await ctx.close();
    rmSync(userDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  check('wall alarms test ran', false, e.stack ?? String(e));
} finally {
  for (const c of children) {
    c.p.kill('SIGTERM');
  }
  await sleep(500);
  for (const c of children) {
    if (c.p.exitCode === null) c.p.kill('SIGKILL');
    if (failures > 0) console.log(`--- ${c.log} output\n${Buffer.concat(c.out).toString().slice(-3000)}`);
  }
  try {
    psql('postgres', `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  } catch {
    /* best effort */
  }
}
console.log(failures === 0 ? 'wall alarms: all checks passed' : `wall alarms: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);

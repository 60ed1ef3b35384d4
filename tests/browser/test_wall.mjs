// The monitoring wall in headless Chromium against a real dialerd (private
// PostgreSQL and Redis, ari-sim as the Asterisk): log in through the page,
// open the wall, check that the campaign's figures move and agree with
// GET /api/v1/campaigns/{id}/stats, that nothing is in alarm, that wall mode
// is dark, and that the wall raises an alarm and reconnects by itself when
// dialerd restarts.
// Saves a screenshot under the test log directory.
//
// The figures are the dialer's own: a real campaign of 5,000 contacts runs
// against ari-sim (created in SQL, started by its state), and the dialer
// counts every call event into the wall's registry (docs/dialer.md).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = process.env.DIALER_ROOT ?? process.cwd();
const require = createRequire(join(ROOT, 'tests', 'package.json'));
// playwright-core is pinned in tests/package.json; install it on first use.
if (!existsSync(join(ROOT, 'tests/node_modules/playwright-core'))) {
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: join(ROOT, 'tests'), stdio: 'inherit' });
}
const { chromium } = require('playwright-core');

const B = process.env.DIALER_BUILD ?? join(ROOT, 'build/debug');
const RUN = process.env.DIALER_RUN_DIR;
const LOGS = join(B, 'test-logs');
const DB = `test_wall_${process.pid}`;
const PW = `wall-Pass-${process.pid}`;
const EMAIL = `wall-${process.pid}@acme.test`;
const psqlArgs = ['-h', process.env.DIALER_PG_SOCKDIR, '-p', process.env.DIALER_PG_PORT, '-U', 'dialer'];
const children = [];
let failures = 0;

function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok' : 'FAIL'} - ${what}${ok || !detail ? '' : `: ${detail}`}`);
  if (!ok) failures++;
  return ok;
}

function psql(db, sql) {
  return execFileSync(join(process.env.DIALER_PG_BIN, 'psql'), [...psqlArgs, '-d', db, '-Atqc', sql])
    .toString().trim();
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
    DIALERD_NODE_ID: 'wall-node',
  };
  execFileSync(join(B, 'dialerd'), ['migrate'], { env: { ...process.env, ...env } });
  execFileSync(join(B, 'dialerd'), ['bootstrap', '--tenant-slug', 'acme', '--email', EMAIL],
    { env: { ...process.env, ...env }, input: `${PW}\n` });
  const tenant = psql(DB, "SELECT id FROM tenants WHERE slug = 'acme'");
  // A running campaign: a flow row (no published revision: answered calls get
  // the talk-time stand-in), a list of 5,000 contacts, 20 attempts a second.
  const flow = psql(DB, `INSERT INTO ivr_flows (tenant_id, name) VALUES (${tenant}, 'Renewal') RETURNING id`);
  const settings = '{"pacing": {"mode": "fixed", "cps": 20, "max_channels": 60}, "retry": {"max_attempts": 1}}';
  const campaign = psql(DB, `INSERT INTO campaigns (tenant_id, name, flow_id, settings) VALUES (${tenant}, 'Spring renewals', ${flow}, '${settings}') RETURNING id`);
  const list = psql(DB, `INSERT INTO contact_lists (tenant_id, name) VALUES (${tenant}, 'Renewals') RETURNING id`);
  psql(DB, `INSERT INTO campaign_lists (tenant_id, campaign_id, list_id) VALUES (${tenant}, ${campaign}, ${list})`);
  psql(DB, `INSERT INTO contacts (tenant_id, list_id, number) SELECT ${tenant}, ${list}, '+1212' || (5550000 + g)::text FROM generate_series(0, 4999) g`);
  psql(DB, `UPDATE campaigns SET state = 'running' WHERE id = ${campaign}`);

  // ari-sim as the Asterisk, so ARI is up and raises no alarm.
  const portFile = join(RUN, `ari-sim-wall-${process.pid}.port`);
  rmSync(portFile, { force: true });
  start(join(B, 'ari-sim'), ['--port', '0', '--port-file', portFile, '--user', 'dialer', '--password', 'pw'], {}, 'ari-sim');
  const ariPort = await until('ari-sim', () => existsSync(portFile) && readFileSync(portFile, 'utf8').trim());
  const dEnv = {
    ...env,
    DIALERD_ARI_URL: `http://127.0.0.1:${ariPort}`,
    DIALERD_ARI_USER: 'dialer',
    DIALERD_ARI_PASSWORD: 'pw',
    DIALERD_DIALER_ALLOW_MISSING_DNC: 'true', // no national DNC list in the test
    DIALERD_DIALER_POLL: '200ms',
  };
  const d = start(join(B, 'dialerd'), [], dEnv, 'dialerd');
  const port = await until('dialerd', () => d.text().match(/event=listening .*port=(\d+)/)?.[1]);
  const base = `http://127.0.0.1:${port}`;
  await until('readiness', async () => (await fetch(`${base}/readyz`)).status === 200, 15000);

  const userDir = mkdtempSync(join(tmpdir(), 'wall-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1600, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => check('no page error', false, String(e)));
    await page.goto(base);
    await page.fill('input[name=email]', EMAIL);
    await page.fill('input[name=password]', 'wrong-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.login .error', { timeout: 10000 });
    check('a wrong password is refused on the login page', true);
    await page.fill('input[name=password]', PW);
    await page.click('button[type=submit]');

    const tile = `[data-campaign-id="${campaign}"]`;
    await page.waitForSelector(tile, { timeout: 15000 });
    check('the wall shows a tile for the running campaign', true);
    await page.waitForSelector(`${tile} h2:text("Spring renewals")`, { timeout: 10000 });
    check('the tile is named after the campaign row', true);
    const val = (f) => page.$eval(`${tile} [data-field="${f}"]`, (e) => Number(e.dataset.value));
    const first = await val('attempts');
    await until('attempts to change', async () => (await val('attempts')) > first, 10000);
    check('attempts increase live', true);

    // The same numbers as the API: the tile's figure lies between two reads of the route.
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('dialer.session')).accessToken);
    const stats = async () => (await fetch(`${base}/api/v1/campaigns/${campaign}/stats`,
      { headers: { Authorization: `Bearer ${token}` } })).json();
    let matched = false;
    for (let i = 0; i < 20 && !matched; i++) {
      const before = await stats();
      const shown = { attempts: await val('attempts'), answered: await val('answered') };
      const after = await stats();
      matched = ['attempts', 'answered'].every((k) => before[k] <= shown[k] && shown[k] <= after[k]);
      if (!matched) await sleep(200);
    }
    check('the tile agrees with GET /api/v1/campaigns/{id}/stats', matched);
    const s = await stats();
    check('stats name and size match the campaign', s.name === 'Spring renewals' && s.contacts_total === 5000,
      JSON.stringify(s));
    const state = await page.$eval(`${tile} .state`, (e) => e.textContent);
    check('the tile shows the running state', state === 'running' && s.state === 'running', state);
    const level = await page.$eval(`${tile} [data-field="abandon_rate"]`, (e) => e.dataset.level);
    check('the abandonment figure is coloured against the cap', ['ok', 'warn', 'alarm'].includes(level));
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    check('wall mode is dark', bg === 'rgb(11, 15, 23)', bg);
    const ariAlarm = await page.$('[data-alarm="ari"]');
    check('no ARI alarm while ari-sim is up', ariAlarm === null);
    await sleep(1500); // a few points on the charts
    await page.screenshot({ path: join(LOGS, 'wall.png'), fullPage: true });
    check('screenshot saved', existsSync(join(LOGS, 'wall.png')), join(LOGS, 'wall.png'));

    // Restart dialerd on the same port: the page must show the lost feed as
    // an alarm, then reconnect by itself (back-off) and keep updating.
    d.p.kill('SIGTERM');
    await until('dialerd to stop', () => d.p.exitCode !== null, 15000);
    await page.waitForSelector('[data-alarm="ws"]', { timeout: 15000 });
    check('a lost live feed is an alarm', true);
    start(join(B, 'dialerd'), [], { ...dEnv, DIALERD_HTTP_PORT: port }, 'dialerd (restarted)');
    await page.waitForSelector('[data-connected="true"]', { timeout: 40000 });
    const before = await val('attempts');
    await until('figures after reconnect', async () => (await val('attempts')) > before, 20000);
    check('the wall reconnects and keeps updating', true);
  } finally {
    await ctx.close();
    rmSync(userDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  check('wall test ran', false, e.stack ?? String(e));
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
console.log(failures === 0 ? 'wall: all checks passed' : `wall: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);

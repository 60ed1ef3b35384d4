// SPDX-License-Identifier: MIT
// conformance: the stock node "ari-client" package (2.2.0, pinned in
// tests/package.json) against a fresh ari-sim.
//
// The client must be able to connect (it loads the api-docs through the
// rewritten basePath), open its events socket, originate with an id it
// generated, play with a generated playback id, receive the DTMF that the
// scenario's callee presses during the prompt, hang up, and see the
// events of that call on its Channel and Playback instances. REST errors
// must reach it as rejections with Asterisk's message. Exit status 0 on
// success.
import { createRequire } from 'node:module';
import path from 'node:path';
import { repoRoot, sleep, startSim } from './lib/simtest.mjs';

const require = createRequire(path.join(repoRoot, 'tests/package.json'));
const ari = require('ari-client');

let failures = 0;
function check(what, cond, detail = '') {
  if (cond) {
    console.log(`PASS ${what}`);
  } else {
    failures++;
    console.log(`FAIL ${what} ${detail}`);
  }
}

function waitEvent(emitter, name, timeout = 5000) {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), timeout);
    emitter.once(name, (...args) => { clearTimeout(t); resolve(args); });
  });
}

const sim = await startSim(['--time-scale', '0.2', '--scenario', path.join(repoRoot, 'sim/scenarios/rules.json')],
  { user: 'dialer', password: 's3cret' });
let client;
try {
  client = await ari.connect(`http://127.0.0.1:${sim.port}`, 'dialer', 's3cret');
  check('connect (api-docs through the rewritten basePath)', !!client.channels && !!client.bridges);

  const seen = [];
  client.on('StasisStart', (e) => seen.push(e.type));
  client.on('StasisEnd', (e) => seen.push(e.type));
  await client.start(['dialer']);
  await sleep(300);

  const ping = await client.asterisk.ping();
  check('asterisk.ping', ping.ping === 'pong');

  // Originate with a client-generated id; the callee (number ending in 7)
  // answers and presses 1 shortly after the first prompt starts.
  const channel = client.Channel();
  const started = waitEvent(channel, 'StasisStart');
  const created = await channel.originate({
    endpoint: 'PJSIP/trunk/sip:+15550100007@carrier.example',
    app: 'dialer', appArgs: 'c1,lead-7', callerId: 'Dialer <1000>', timeout: 30,
  });
  check('originate honours the generated channelId', created.id === channel.id, `${created.id} vs ${channel.id}`);
  check('originate answers state Down', created.state === 'Down');
  const ss = await started;
  check('StasisStart on the channel instance', ss && ss[0].args.join(',') === 'c1,lead-7');

  const dtmf = waitEvent(channel, 'ChannelDtmfReceived', 8000);
  const playback = client.Playback();
  const pbStarted = waitEvent(playback, 'PlaybackStarted');
  const pbFinished = waitEvent(playback, 'PlaybackFinished', 8000);
  const pb = await channel.play({ media: 'sound:ivr/menu' }, playback);
  check('play honours the generated playbackId', pb.id === playback.id && pb.state === 'queued');
  check('PlaybackStarted on the playback instance', !!(await pbStarted));
  const d = await dtmf;
  check('DTMF from the scenario during the prompt', d && d[0].digit === '1' && d[0].duration_ms === 100);
  const fin = await pbFinished;
  check('PlaybackFinished (DTMF does not interrupt)', fin && fin[0].playback.state === 'done');

  const vars = await channel.getChannelVar({ variable: 'CALLERID(num)' });
  check('getChannelVar', vars.value === '1000');
  await channel.setChannelVar({ variable: 'DISPOSITION', value: 'sale' });
  const v2 = await channel.getChannelVar({ variable: 'DISPOSITION' });
  check('setChannelVar', v2.value === 'sale');

  const list = await client.channels.list();
  check('channels.list', list.some((c) => c.id === channel.id));

  const bridge = client.Bridge();
  await bridge.create({ type: 'mixing', name: 'conf' });
  await bridge.addChannel({ channel: channel.id });
  const b = await client.bridges.get({ bridgeId: bridge.id });
  check('bridge with the channel', b.channels.includes(channel.id));
  await bridge.destroy();

  const ended = waitEvent(channel, 'StasisEnd');
  const destroyed = waitEvent(channel, 'ChannelDestroyed');
  await channel.hangup();
  check('StasisEnd after hangup', !!(await ended));
  const de = await destroyed;
  check('ChannelDestroyed with Normal Clearing', de && de[0].cause === 16 && de[0].cause_txt === 'Normal Clearing');

  try {
    await client.channels.get({ channelId: 'does-not-exist' });
    check('404 rejects', false, 'no error');
  } catch (e) {
    check('404 rejects with Asterisk\'s message', /Channel not found/.test(String(e.message || e)));
  }

  // A busy callee: failures arrive as events on a channel never in Stasis.
  const busy = client.Channel();
  const busyDestroyed = waitEvent(busy, 'ChannelDestroyed');
  await busy.originate({ endpoint: 'PJSIP/trunk/sip:+15550100000@carrier.example', app: 'dialer' });
  const bd = await busyDestroyed;
  check('busy callee: ChannelDestroyed cause 17', bd && bd[0].cause === 17 && bd[0].cause_txt === 'User busy');
  check('StasisStart/StasisEnd pairs', seen.filter((t) => t === 'StasisStart').length === 1 &&
    seen.filter((t) => t === 'StasisEnd').length === 1, JSON.stringify(seen));
} catch (e) {
  failures++;
  console.log('FAIL exception', e && e.stack ? e.stack : e);
} finally {
  if (client) {
    try { client.stop(); } catch { /* already closed */ }
  }
  await sleep(100);
  if (!(await sim.stop())) {
    failures++;
    console.log('FAIL ari-sim exit');
  }
}
console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);

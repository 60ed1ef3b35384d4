// SPDX-License-Identifier: MIT
// flows: the PJSIP (scenario-driven) call flows of NOTES.md section 7 and the
// media operations, checked event by event against ari-sim, plus the
// swagger check of every event seen.
//
// The simulator runs sim/scenarios/rules.json, where the last digit of the
// number picks the callee's behaviour (0 busy, 1 no answer, 2 congestion,
// 3 rejected, 4 unallocated, 5 unreachable, 6 machine, 7 human with DTMF,
// 8 failed, 9 answers and stays).
import path from 'node:path';
import { checkEvent, checkModel, http, loadModels, repoRoot, sleep, startSim, wsConnect } from './lib/simtest.mjs';

const models = loadModels();
let failures = 0;
let passes = 0;

function fail(name, msg) {
  failures++;
  console.log(`FAIL ${name}: ${msg}`);
}

function typesOf(evs) {
  return evs.map((e) => e.type + (e.type === 'Dial' ? `(${e.dialstatus})` : ''));
}

function forChan(ws, id) {
  return ws.events.filter((e) => (e.channel && e.channel.id === id) || (e.peer && e.peer.id === id) ||
    (e.playback && e.playback.target_uri === 'channel:' + id) ||
    (e.recording && e.recording.target_uri === 'channel:' + id));
}

function expectTypes(name, evs, want) {
  const got = typesOf(evs);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(name, `\n    want ${JSON.stringify(want)}\n    got  ${JSON.stringify(got)}`);
    return false;
  }
  return true;
}

function expectEq(name, what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(name, `${what}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    return false;
  }
  return true;
}

async function waitDestroyed(ws, id, timeout = 8000) {
  return ws.waitFor((e) => e.type === 'ChannelDestroyed' && e.channel.id === id, timeout);
}

const ep = (n) => encodeURIComponent(`PJSIP/trunk/sip:+1555010000${n}@carrier.example`);

async function originate(sim, id, digit, extra = '') {
  return http(sim.port, 'POST', `/ari/channels?endpoint=${ep(digit)}&app=dialer&appArgs=c7,${id}&channelId=${id}&callerId=Dialer%20%3C1000%3E${extra}`);
}

const tests = {
  async answered_play_hangup(sim, ws) {
    const name = 'answered_play_hangup';
    const r = await originate(sim, 'call-9', 9);
    expectEq(name, 'originate status', r.status, 200);
    expectEq(name, 'state', r.json.state, 'Down');
    expectEq(name, 'app_name', r.json.dialplan.app_name, 'AppDial2');
    expectEq(name, 'name', /^PJSIP\/trunk-[0-9a-f]{8}$/.test(r.json.name), true);
    const ss = await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-9');
    if (!ss) return fail(name, 'no StasisStart');
    expectEq(name, 'args', ss.args, ['c7', 'call-9']);
    expectEq(name, 'dialplan', [ss.channel.dialplan.app_name, ss.channel.dialplan.app_data], ['Stasis', 'dialer,c7,call-9']);
    const p = await http(sim.port, 'POST', '/ari/channels/call-9/play?media=sound:hello-world&playbackId=pb-9');
    expectEq(name, 'play status', [p.status, p.statusText], [201, 'Created']);
    expectEq(name, 'Location', p.headers.get('location'), '/ari/playbacks/pb-9');
    await ws.waitFor((e) => e.type === 'PlaybackFinished' && e.playback.id === 'pb-9');
    const d = await http(sim.port, 'DELETE', '/ari/channels/call-9');
    expectEq(name, 'delete', [d.status, d.text], [204, '']);
    await waitDestroyed(ws, 'call-9');
    const evs = forChan(ws, 'call-9');
    expectTypes(name, evs, ['Dial()', 'ChannelStateChange', 'Dial(RINGING)', 'ChannelStateChange', 'Dial(ANSWER)',
      'ChannelVarset', 'StasisStart', 'PlaybackStarted', 'PlaybackFinished', 'ChannelHangupRequest', 'StasisEnd',
      'ChannelVarset', 'ChannelDestroyed']);
    const hr = evs.find((e) => e.type === 'ChannelHangupRequest');
    expectEq(name, 'hangup request', [hr.cause, hr.soft], [32, true]);
    const de = evs.at(-1);
    expectEq(name, 'destroyed', [de.cause, de.cause_txt], [16, 'Normal Clearing']);
    expectEq(name, 'dialstring', evs[0].dialstring, 'trunk/sip:+15550100009@carrier.example');
  },

  async response_models(sim, ws) {
    // REST answers carry the swagger models with their required fields.
    const name = 'response_models';
    const problems = [];
    const o = await originate(sim, 'call-9x', 9);
    problems.push(...checkModel(models, 'Channel', o.json));
    await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-9x');
    const p = await http(sim.port, 'POST', '/ari/channels/call-9x/play?media=sound:hello-world');
    problems.push(...checkModel(models, 'Playback', p.json));
    const r = await http(sim.port, 'POST', '/ari/channels/call-9x/record?name=rm-1&format=wav&maxDurationSeconds=1');
    problems.push(...checkModel(models, 'LiveRecording', r.json));
    const b = await http(sim.port, 'POST', '/ari/bridges?bridgeId=rm-b');
    problems.push(...checkModel(models, 'Bridge', b.json));
    const i = await http(sim.port, 'GET', '/ari/asterisk/info');
    problems.push(...checkModel(models, 'AsteriskInfo', i.json));
    const a = await http(sim.port, 'GET', '/ari/applications');
    for (const x of a.json) problems.push(...checkModel(models, 'Application', x));
    const l = await http(sim.port, 'GET', '/ari/channels');
    for (const x of l.json) problems.push(...checkModel(models, 'Channel', x));
    const v = await http(sim.port, 'GET', '/ari/channels/call-9x/variables?variables=CHANNEL(state),NOPE');
    expectEq(name, 'variables', v.json, { variables: { 'CHANNEL(state)': 'Up' } });
    await http(sim.port, 'DELETE', '/ari/bridges/rm-b');
    await http(sim.port, 'DELETE', '/ari/channels/call-9x');
    await waitDestroyed(ws, 'call-9x');
    if (problems.length) fail(name, problems.join('; '));
  },

  async busy(sim, ws) {
    const name = 'busy';
    await originate(sim, 'call-0', 0);
    await waitDestroyed(ws, 'call-0');
    const evs = forChan(ws, 'call-0');
    expectTypes(name, evs, ['Dial()', 'ChannelHangupRequest', 'Dial(BUSY)', 'ChannelDestroyed']);
    expectEq(name, 'request', [evs[1].cause, evs[1].tech_cause, evs[1].soft], [17, 486, undefined]);
    expectEq(name, 'destroyed', [evs[3].cause, evs[3].cause_txt, evs[3].tech_cause], [17, 'User busy', 486]);
  },

  async originate_timeout(sim, ws) {
    const name = 'originate_timeout';
    await originate(sim, 'call-1', 1, '&timeout=2');
    await waitDestroyed(ws, 'call-1');
    const evs = forChan(ws, 'call-1');
    expectTypes(name, evs, ['Dial()', 'ChannelStateChange', 'Dial(RINGING)', 'ChannelDestroyed']);
    expectEq(name, 'destroyed', [evs[3].cause, evs[3].cause_txt, evs[3].channel.state], [19, 'User alerting, no answer', 'Ringing']);
  },

  async cancel_while_ringing(sim, ws) {
    const name = 'cancel_while_ringing';
    await originate(sim, 'call-1b', 1);
    await ws.waitFor((e) => e.type === 'Dial' && e.dialstatus === 'RINGING' && e.peer.id === 'call-1b');
    const d = await http(sim.port, 'DELETE', '/ari/channels/call-1b?reason=busy');
    expectEq(name, 'delete', d.status, 204);
    await waitDestroyed(ws, 'call-1b');
    const evs = forChan(ws, 'call-1b');
    expectTypes(name, evs, ['Dial()', 'ChannelStateChange', 'Dial(RINGING)', 'ChannelHangupRequest', 'Dial(BUSY)', 'ChannelDestroyed']);
    expectEq(name, 'request', [evs[3].cause, evs[3].soft], [32, true]);
    expectEq(name, 'destroyed', evs[5].cause, 17);
  },

  async failures(sim, ws) {
    const cases = [[2, 34, 503, 'CONGESTION', 'Circuit/channel congestion'], [4, 1, 404, 'NOANSWER', 'Unallocated (unassigned) number'],
      [8, 38, 500, 'NOANSWER', 'Network out of order']];
    for (const [digit, cause, sip, status, txt] of cases) {
      const name = `failure_${digit}`;
      const id = `call-${digit}`;
      await originate(sim, id, digit);
      await waitDestroyed(ws, id);
      const evs = forChan(ws, id);
      expectTypes(name, evs, ['Dial()', 'ChannelHangupRequest', `Dial(${status})`, 'ChannelDestroyed']);
      expectEq(name, 'destroyed', [evs.at(-1).cause, evs.at(-1).cause_txt, evs.at(-1).tech_cause], [cause, txt, sip]);
    }
    const name = 'rejected_after_ringing';
    await originate(sim, 'call-3', 3);
    await waitDestroyed(ws, 'call-3');
    const evs = forChan(ws, 'call-3');
    expectTypes(name, evs, ['Dial()', 'ChannelStateChange', 'Dial(RINGING)', 'ChannelHangupRequest', 'Dial(NOANSWER)', 'ChannelDestroyed']);
    expectEq(name, 'cause', [evs.at(-1).cause, evs.at(-1).cause_txt], [21, 'Call Rejected']);
  },

  async unreachable(sim) {
    const r = await originate(sim, 'call-5', 5);
    expectEq('unreachable', 'response', [r.status, r.json], [500, { error: 'Allocation failed' }]);
    const g = await http(sim.port, 'GET', '/ari/channels/call-5');
    expectEq('unreachable', 'no channel', g.status, 404);
  },

  async dtmf_script_and_amd_continue(sim, ws) {
    const name = 'dtmf_script';
    await originate(sim, 'call-7', 7);
    await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-7');
    await http(sim.port, 'POST', '/ari/channels/call-7/play?media=sound:ivr/menu&playbackId=pb-7');
    const d1 = await ws.waitFor((e) => e.type === 'ChannelDtmfReceived' && e.channel.id === 'call-7');
    expectEq(name, 'first digit', d1 && [d1.digit, d1.duration_ms], ['1', 100]);
    await ws.waitFor((e) => e.type === 'PlaybackFinished' && e.playback.id === 'pb-7');
    const di = ws.events.indexOf(d1);
    const pf = ws.events.findIndex((e) => e.type === 'PlaybackFinished' && e.playback.id === 'pb-7');
    expectEq(name, 'digit during the prompt, prompt not interrupted', di >= 0 && di < pf, true);
    // Send the channel to the AMD context with continue; it comes back to Stasis.
    const c = await http(sim.port, 'POST', '/ari/channels/call-7/continue?context=amd&extension=s&priority=1');
    expectEq(name, 'continue', c.status, 204);
    const back = await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-7' && e.args[0] === 'amd', 8000);
    if (!back) return fail(name, 'no StasisStart after AMD');
    expectEq('amd_human', 'args', back.args, ['amd', 'HUMAN', 'HUMAN-800-800']);
    const v = await http(sim.port, 'GET', '/ari/channels/call-7/variable?variable=AMDSTATUS');
    expectEq('amd_human', 'AMDSTATUS', v.json, { value: 'HUMAN' });
    const evs = forChan(ws, 'call-7');
    const i = evs.findIndex((e) => e.type === 'StasisEnd');
    expectEq('amd_human', 'order after continue', typesOf(evs.slice(i, i + 4)), ['StasisEnd', 'ChannelVarset', 'ChannelDialplan', 'ChannelDialplan']);
    await http(sim.port, 'DELETE', '/ari/channels/call-7');
    await waitDestroyed(ws, 'call-7');
  },

  async amd_machine(sim, ws) {
    await originate(sim, 'call-6', 6);
    await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-6');
    await http(sim.port, 'POST', '/ari/channels/call-6/continue?context=amd&extension=s');
    const back = await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-6' && e.args[0] === 'amd', 8000);
    expectEq('amd_machine', 'args', back && back.args, ['amd', 'MACHINE', 'MAXWORDS-3-2']);
    await http(sim.port, 'DELETE', '/ari/channels/call-6?reason_code=21');
    const de = await waitDestroyed(ws, 'call-6');
    expectEq('amd_machine', 'reason_code', de && de.cause, 21);
  },

  async dialplan_originate_amd(sim, ws) {
    const r = await http(sim.port, 'POST', `/ari/channels?endpoint=${ep(6)}&context=amd&extension=s&priority=1&channelId=call-6b`);
    expectEq('dialplan_originate', 'status', r.status, 200);
    const ss = await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-6b', 8000);
    expectEq('dialplan_originate', 'args', ss && ss.args, ['amd', 'MACHINE', 'MAXWORDS-3-2']);
    expectEq('dialplan_originate', 'only StasisStart seen first', forChan(ws, 'call-6b')[0].type, 'StasisStart');
    await http(sim.port, 'DELETE', '/ari/channels/call-6b');
    await ws.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === 'call-6b');
    await sleep(200);
    expectEq('dialplan_originate', 'no ChannelDestroyed (implicit subscription)',
      forChan(ws, 'call-6b').some((e) => e.type === 'ChannelDestroyed'), false);
  },

  async media_list_and_control(sim, ws) {
    const name = 'media_list';
    await originate(sim, 'call-9m', 9);
    await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-9m');
    await http(sim.port, 'POST', '/ari/channels/call-9m/play?media=sound:hello-world,sound:missing-prompt,sound:beep&playbackId=pl');
    await ws.waitFor((e) => e.type === 'PlaybackFinished' && e.playback.id === 'pl');
    const pbs = ws.events.filter((e) => e.playback && e.playback.id === 'pl').map((e) => `${e.type}:${e.playback.media_uri}:${e.playback.state}:${e.playback.next_media_uri || ''}`);
    expectEq(name, 'sequence', pbs, [
      'PlaybackStarted:sound:hello-world:playing:sound:missing-prompt',
      'PlaybackContinuing:sound:hello-world:continuing:sound:missing-prompt',
      'PlaybackStarted:sound:missing-prompt:playing:sound:beep',
      'PlaybackContinuing:sound:missing-prompt:continuing:sound:beep',
      'PlaybackStarted:sound:beep:playing:',
      'PlaybackFinished:sound:beep:done:']);
    // Queued playbacks, pause/unpause, stop.
    await http(sim.port, 'POST', '/ari/channels/call-9m/play/long1?media=sound:custom/dialer-test');
    const q = await http(sim.port, 'POST', '/ari/channels/call-9m/play/long2?media=sound:custom/dialer-test');
    expectEq('playback_queue', 'second is queued', q.json.state, 'queued');
    await ws.waitFor((e) => e.type === 'PlaybackStarted' && e.playback.id === 'long1');
    const pa = await http(sim.port, 'POST', '/playbacks/long1/control?operation=pause'.replace('/playbacks', '/ari/playbacks'));
    expectEq('playback_control', 'pause', pa.status, 204);
    const g = await http(sim.port, 'GET', '/ari/playbacks/long1');
    expectEq('playback_control', 'paused state', g.json.state, 'paused');
    const un = await http(sim.port, 'POST', '/ari/playbacks/long1/control?operation=unpause');
    expectEq('playback_control', 'unpause', un.status, 204);
    const bad = await http(sim.port, 'POST', '/ari/playbacks/long2/control?operation=pause');
    expectEq('playback_control', 'pause a queued playback', [bad.status, bad.json], [409, { message: 'Can only pause while media is playing' }]);
    const st = await http(sim.port, 'DELETE', '/ari/playbacks/long1');
    expectEq('playback_control', 'stop', st.status, 204);
    await ws.waitFor((e) => e.type === 'PlaybackStarted' && e.playback.id === 'long2');
    const l1 = ws.events.filter((e) => e.playback && e.playback.id === 'long1').map((e) => e.type + ':' + e.playback.state);
    expectEq('playback_control', 'events', l1, ['PlaybackStarted:playing', 'PlaybackStarted:playing', 'PlaybackFinished:done']);
    // Hang-up during a playback: the playback fails, then StasisEnd.
    await http(sim.port, 'DELETE', '/ari/channels/call-9m');
    await waitDestroyed(ws, 'call-9m');
    const tail = typesOf(forChan(ws, 'call-9m').slice(-5));
    expectEq('hangup_during_playback', 'order', tail, ['ChannelHangupRequest', 'PlaybackFinished', 'StasisEnd', 'ChannelVarset', 'ChannelDestroyed']);
    const pfail = ws.events.find((e) => e.type === 'PlaybackFinished' && e.playback.id === 'long2');
    expectEq('hangup_during_playback', 'state', pfail && pfail.playback.state, 'failed');
  },

  async recording(sim, ws) {
    await originate(sim, 'call-9r', 9);
    await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'call-9r');
    const r = await http(sim.port, 'POST', '/ari/channels/call-9r/record?name=rec-9&format=wav&maxDurationSeconds=2&ifExists=overwrite');
    expectEq('recording', 'status', [r.status, r.headers.get('location'), r.json.state], [201, '/ari/recordings/live/rec-9', 'queued']);
    const bad = await http(sim.port, 'POST', '/ari/channels/call-9r/record?name=rec-x&format=nope');
    expectEq('recording', 'unknown format', [bad.status, bad.json], [422, { message: 'specified format is unknown on this system' }]);
    const fin = await ws.waitFor((e) => e.type === 'RecordingFinished' && e.recording.name === 'rec-9');
    expectEq('recording', 'finished', fin && fin.recording.state, 'done');
    const st = await http(sim.port, 'GET', '/ari/recordings/stored/rec-9');
    expectEq('recording', 'stored', st.json, { name: 'rec-9', format: 'wav' });
    const dup = await http(sim.port, 'POST', '/ari/channels/call-9r/record?name=rec-9&format=wav&ifExists=fail');
    expectEq('recording', 'exists', dup.status, 409);
    await http(sim.port, 'DELETE', '/ari/channels/call-9r');
    await waitDestroyed(ws, 'call-9r');
  },

  async inbound_ivr(sim, ws) {
    const name = 'inbound';
    const r = await http(sim.port, 'POST', '/_sim/inbound?extension=2001&context=inbound&app=ivr&caller=5551234', { auth: null });
    expectEq(name, 'inject', r.status, 200);
    const ss = await ws.waitFor((e) => e.type === 'StasisStart' && e.application === 'ivr');
    if (!ss) return fail(name, 'no StasisStart');
    const id = ss.channel.id;
    expectEq(name, 'StasisStart', [ss.args, ss.channel.state, ss.channel.dialplan.app_data, ss.channel.caller.number],
      [['2001'], 'Ring', 'ivr,2001', '5551234']);
    expectEq(name, 'generated id', /^\d{10}\.\d+$/.test(id), true);
    // An inbound channel in Ring may be answered (and played to) right away.
    const an = await http(sim.port, 'POST', `/ari/channels/${id}/answer`);
    expectEq(name, 'answer', an.status, 204);
    await http(sim.port, 'POST', `/_sim/channels/${id}/dtmf?digits=12`, { auth: null });
    await ws.waitFor((e) => e.type === 'ChannelDtmfReceived' && e.digit === '2' && e.channel.id === id);
    await http(sim.port, 'POST', `/_sim/channels/${id}/hangup?cause=16`, { auth: null });
    await ws.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === id);
    await sleep(200);
    expectTypes(name, forChan(ws, id), ['StasisStart', 'ChannelStateChange', 'ChannelDtmfReceived', 'ChannelDtmfReceived',
      'ChannelHangupRequest', 'StasisEnd']);
  },

  async inbound_generator_and_scenario_swap(sim, ws) {
    const name = 'inbound_generator';
    const scenario = {
      name: 'swap-test', seed: 3,
      populations: {
        default: [{ weight: 1, outcome: 'busy', ring: 0.2 }],
        callers: [{ weight: 1, talk: 2, dtmf: [{ digits: '9', from: 'answer', after: 0.5 }] }],
      },
      inbound: [{ extension: '2001', app: 'ivr', context: 'inbound', caller: '+1415555####',
        interval: 1, population: 'callers', max: 2 }],
    };
    const r = await http(sim.port, 'POST', '/_sim/scenario', { body: scenario, auth: null });
    expectEq(name, 'swap', [r.status, r.json && r.json.name], [200, 'swap-test']);
    const from = ws.events.length;
    const ss = await ws.waitFor((e) => e.type === 'StasisStart' && e.application === 'ivr', 5000, from);
    if (!ss) return fail(name, 'no inbound call');
    expectEq(name, 'caller pattern', /^\+1415555\d{4}$/.test(ss.channel.caller.number), true);
    expectEq(name, 'extension arg', ss.args, ['2001']);
    await http(sim.port, 'POST', `/ari/channels/${ss.channel.id}/answer`);
    const d = await ws.waitFor((e) => e.type === 'ChannelDtmfReceived' && e.channel.id === ss.channel.id);
    expectEq(name, 'scripted digit', d && d.digit, '9');
    const end = await ws.waitFor((e) => e.type === 'StasisEnd' && e.channel.id === ss.channel.id);
    expectEq(name, 'caller hangs up after the talk time', !!end, true);
    // The swapped population now makes every number busy.
    await originate(sim, 'call-sw', 9);
    const de = await waitDestroyed(ws, 'call-sw');
    expectEq(name, 'new population applies', de && de.cause, 17);
    const bad = await http(sim.port, 'POST', '/_sim/scenario', { body: { populations: { default: 'x' } }, auth: null });
    expectEq(name, 'invalid scenario refused', bad.status, 400);
    const back = await http(sim.port, 'POST', `/_sim/scenario?path=${encodeURIComponent(path.join(repoRoot, 'sim/scenarios/rules.json'))}`, { auth: null });
    expectEq(name, 'swap back from a file', back.status, 200);
    const st = await http(sim.port, 'GET', '/_sim/stats', { auth: null });
    expectEq('stats', 'fields', ['originates', 'inbound', 'events', 'channels_active', 'outcomes'].every((k) => k in st.json), true);
    expectEq('stats', 'inbound counted', st.json.inbound >= 1, true);
  },

  async create_dial_bridge(sim, ws) {
    const name = 'create_dial';
    const c = await http(sim.port, 'POST', `/ari/channels/create?endpoint=${ep(9)}&app=dialer&channelId=cd-1`);
    expectEq(name, 'create', [c.status, c.json.state], [200, 'Down']);
    const ss = await ws.waitFor((e) => e.type === 'StasisStart' && e.channel.id === 'cd-1');
    expectEq(name, 'StasisStart state', ss && ss.channel.state, 'Down');
    const a = await http(sim.port, 'POST', '/ari/channels/cd-1/answer');
    expectEq(name, 'answer before dial', [a.status, a.statusText], [412, 'Precondition Failed']);
    const d = await http(sim.port, 'POST', '/ari/channels/cd-1/dial?timeout=10');
    expectEq(name, 'dial', d.status, 204);
    await ws.waitFor((e) => e.type === 'Dial' && e.dialstatus === 'ANSWER' && e.peer.id === 'cd-1');
    const d2 = await http(sim.port, 'POST', '/ari/channels/cd-1/dial');
    expectEq(name, 'dial twice', d2.status, 409);
    const b = await http(sim.port, 'POST', '/ari/bridges?type=mixing&bridgeId=b-1&name=b1');
    expectEq('bridge', 'create', [b.status, b.json.technology, b.json.bridge_type], [200, 'simple_bridge', 'mixing']);
    const dup = await http(sim.port, 'POST', '/ari/bridges/b-1');
    expectEq('bridge', 'duplicate', dup.status, 409);
    const add = await http(sim.port, 'POST', '/ari/bridges/b-1/addChannel?channel=cd-1');
    expectEq('bridge', 'add', add.status, 204);
    const missing = await http(sim.port, 'POST', '/ari/bridges/b-1/addChannel?channel=nope');
    expectEq('bridge', 'unknown channel', [missing.status, missing.json], [400, { message: 'Channel not found' }]);
    const rm = await http(sim.port, 'POST', '/ari/bridges/b-1/removeChannel?channel=cd-1');
    expectEq('bridge', 'remove', rm.status, 204);
    const rm2 = await http(sim.port, 'POST', '/ari/bridges/b-1/removeChannel?channel=cd-1');
    expectEq('bridge', 'remove again', [rm2.status, rm2.json], [422, { message: 'Channel not in this bridge' }]);
    await http(sim.port, 'DELETE', '/ari/bridges/b-1');
    await http(sim.port, 'DELETE', '/ari/channels/cd-1');
    await waitDestroyed(ws, 'cd-1');
    expectTypes(name, forChan(ws, 'cd-1').filter((e) => !/Bridge/.test(e.type)),
      ['StasisStart', 'Dial()', 'ChannelStateChange', 'Dial(RINGING)', 'ChannelStateChange', 'Dial(ANSWER)',
        'ChannelHangupRequest', 'StasisEnd', 'ChannelDestroyed']);
  },
};

const sim = await startSim(['--time-scale', '0.1', '--scenario', path.join(repoRoot, 'sim/scenarios/rules.json')]);
const ws = await wsConnect(sim.port, '/ari/events?app=dialer,ivr&api_key=asterisk:asterisk');
for (const [name, fn] of Object.entries(tests)) {
  const before = failures;
  try {
    await fn(sim, ws);
  } catch (e) {
    fail(name, e.stack);
  }
  if (failures === before) {
    passes++;
    console.log(`PASS ${name}`);
  }
}
// Every event type the simulator's sources can emit is declared in events.json.
{
  const fs = await import('node:fs');
  const dir = path.join(repoRoot, 'sim');
  const types = new Set();
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.c'))) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    const re = /sim__ev_(?:begin\(\w+, [^,]+|chan_simple\([^,]+|playback\([^,]+|recording\([^,]+|bridge\([^,]+|bridge_chan\([^,]+, [^,]+), "(\w+)"/g;
    for (const m of src.matchAll(re)) types.add(m[1]);
    for (const m of src.matchAll(/\\"type\\":\\"(\w+)\\"/g)) types.add(m[1]);
    for (const m of src.matchAll(/"(Channel\w+|Stasis\w+|Playback\w+|Recording\w+|Bridge\w+|Application\w+|Dial)"/g)) {
      if (/^(Channel|Stasis|Playback|Recording|Bridge|Application)[A-Z]/.test(m[1]) || m[1] === 'Dial') types.add(m[1]);
    }
  }
  const unknown = [...types].filter((t) => !models[t]);
  if (types.size < 20 || unknown.length) fail('event_types_in_source', `found ${types.size}, unknown: ${unknown.join(',')}`);
  else { passes++; console.log(`PASS event_types_in_source (${types.size} types, all in events.json)`); }
}
ws.ping();
await sleep(200);
if (ws.pong) { passes++; console.log('PASS ping answered with pong'); } else fail('ping', 'no pong');

let bad = 0;
for (const e of ws.events) {
  for (const p of checkEvent(models, e)) {
    if (bad++ < 10) console.log('swagger: ' + p);
  }
}
if (bad) fail('swagger', `${bad} problems`); else { passes++; console.log(`PASS swagger (${ws.events.length} events)`); }
ws.close();
await sleep(50);
if (!(await sim.stop())) fail('exit', 'ari-sim did not exit cleanly');
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);

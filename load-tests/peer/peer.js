// The peer baseline: the load suite's call scenario driven at full speed by
// the stock `ari-client` package, the way many ARI dialers are written.
// Keeps CONCURRENCY calls in flight for SECONDS: originate into the Stasis
// app; on StasisStart answer, play one prompt, hang up when it finishes.
// Prints one JSON line: calls completed, calls/s, CPU seconds used by this
// process (user + system) and calls per CPU second.
//   node peer.js URL USER PASSWORD SECONDS CONCURRENCY NUMBER_PREFIX
'use strict';
const ari = require('ari-client');

const [url, user, password, secondsArg, concArg, prefixArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 10);
const concurrency = Number(concArg || 100);
const prefix = prefixArg || '+1212900';
const app = 'peer';

let started = 0;
let completed = 0;
let failed = 0;
let inFlight = 0;
let stopping = false;
let seq = 0;

function finish(client, t0, cpu0) {
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(JSON.stringify({
    calls: completed, failed, seconds: dt, calls_per_s: completed / dt, cpu_s: cpuS,
    calls_per_cpu_s: cpuS > 0 ? completed / cpuS : 0, concurrency,
  }));
  try { client.stop(); } catch (e) { /* closing anyway */ }
  process.exit(0);
}

ari.connect(url, user, password).then((client) => {
  // measured from the application's start (connecting loads the API
  // description: a one-off cost that is not per call)
  let t0;
  let cpu0;

  function originate() {
    if (stopping) return;
    inFlight++;
    started++;
    const n = String(seq++).padStart(6, '0');
    client.channels.originate({ endpoint: `PJSIP/${prefix}${n}@trunk`, app, appArgs: 'peer' })
      .catch(() => { failed++; inFlight--; originate(); });
  }

  client.on('StasisStart', (event, channel) => {
    channel.answer()
      .then(() => {
        const playback = client.Playback();
        playback.once('PlaybackFinished', () => { channel.hangup().catch(() => {}); });
        return channel.play({ media: 'sound:load-prompt' }, playback);
      })
      .catch(() => { channel.hangup().catch(() => {}); });
  });
  client.on('ChannelDestroyed', () => {
    completed++;
    inFlight--;
    originate();
  });

  client.start(app).then(() => {
    t0 = process.hrtime.bigint();
    cpu0 = process.cpuUsage();
    for (let i = 0; i < concurrency; i++) originate();
    setTimeout(() => { stopping = true; finish(client, t0, cpu0); }, seconds * 1000);
  });
}).catch((err) => {
  console.error(`peer: cannot connect: ${err.message || err}`);
  process.exit(1);
});

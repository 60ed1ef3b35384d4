// The monitoring wall: one tile per active campaign, live charts, alarms.
import { useEffect, useMemo, useRef, useState } from 'react';
import { LiveChart } from './Chart';
import { Live } from './live';
import {
  abandonLevel, alarms, applyDelta, applyImport, applyWall, emptyWall, importRows, importShare,
  pct, trunkTrouble,
  type CampaignStats, type Flow, type Health, type ImportProgress, type Trunk, type WallState,
} from './model';

const HISTORY_S = 300; // live chart window
const HOUR_REFRESH_MS = 60_000; // the per-minute rollups change once a minute

// The last hour per minute, from GET /api/v1/campaigns/{id}/stats/minutes.
interface Hour {
  t: number[];
  attempts: number[];
  answered: number[];
  failed: number[];
}

interface MinuteRow {
  minute: string;
  attempts: number;
  answered: number;
  failed: number;
  busy: number;
  no_answer: number;
}

async function fetchHour(id: number, token: string): Promise<Hour | null> {
  const r = await fetch(`/api/v1/campaigns/${id}/stats/minutes`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!r.ok) return null;
  const j = (await r.json()) as { minutes: MinuteRow[] };
  const h: Hour = { t: [], attempts: [], answered: [], failed: [] };
  for (const m of j.minutes) {
    h.t.push(Date.parse(m.minute) / 1000);
    h.attempts.push(m.attempts);
    h.answered.push(m.answered);
    h.failed.push(m.failed + m.busy + m.no_answer);
  }
  return h;
}
const ACTIVE = new Set(['running', 'paused', 'scheduled', 'unknown']);

interface History {
  t: number[];
  cps: number[];
  inProgress: number[];
}

function num(x: unknown): string {
  return typeof x === 'number' ? x.toLocaleString('en-US') : '—';
}

function eta(s: number | null): string {
  if (s === null || s === undefined) return '—';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

function Figure(props: { label: string; field: string; value: number; text?: string }) {
  return (
    <div className="figure" data-field={props.field} data-value={props.value}>
      <span className="value">{props.text ?? num(props.value)}</span>
      <span className="label">{props.label}</span>
    </div>
  );
}

function Tile(props: { c: CampaignStats; h?: History; hour?: Hour }) {
  const c = props.c;
  const hour = useMemo(
    () => (props.hour ? [props.hour.t, props.hour.attempts, props.hour.answered, props.hour.failed]
      : [[], [], [], []]),
    [props.hour],
  );
  const level = abandonLevel(c.abandon_rate, c.abandon_cap);
  const data = useMemo(
    () => (props.h ? [props.h.t, props.h.cps, props.h.inProgress] : [[], [], []]),
    [props.h, props.h?.t.length, props.h?.t[props.h.t.length - 1]],
  );
  return (
    <section className={`tile state-${c.state}`} data-campaign-id={c.campaign_id}>
      <header>
        <h2>{c.name ?? `Campaign ${c.campaign_id}`}</h2>
        <span className="state">{c.state}</span>
      </header>
      <div className="progress" title={`${pct(c.progress)} done`}>
        <div className="bar" style={{ width: `${Math.min(100, c.progress * 100)}%` }} />
        <span>{pct(c.progress)} · {num(c.contacts_remaining)} left · ETA {eta(c.eta_s)}</span>
      </div>
      <div className="figures">
        <Figure label="CPS" field="cps_1s" value={c.cps_1s} text={c.cps_1s.toFixed(1)} />
        <Figure label="in progress" field="in_progress" value={c.in_progress} />
        <Figure label="ringing" field="ringing" value={c.ringing} />
        <Figure label="attempts" field="attempts" value={c.attempts} />
        <Figure label="answered" field="answered" value={c.answered} />
        <Figure label="answer rate" field="asr" value={c.asr} text={pct(c.asr)} />
        <div className={`figure abandon level-${level}`} data-field="abandon_rate"
          data-value={c.abandon_rate} data-level={level}>
          <span className="value">{pct(c.abandon_rate)}</span>
          <span className="label">abandoned (cap {pct(c.abandon_cap)})</span>
        </div>
      </div>
      <LiveChart title="CPS and calls up"
        series={[{ label: 'CPS', color: '#4fc3f7' }, { label: 'in progress', color: '#ffb74d' }]}
        data={data} height={140} />
      <div className="hour" data-minutes={props.hour?.t.length ?? 0}>
        <LiveChart title="Last hour, per minute"
          series={[
            { label: 'attempts', color: '#90a4ae' },
            { label: 'answered', color: '#81c784' },
            { label: 'not reached', color: '#e57373' },
          ]}
          data={hour} height={110} />
      </div>
    </section>
  );
}

function TrunkTile(props: { t: Trunk }) {
  const t = props.t;
  return (
    <section className={`trunk state-${t.state}`} data-trunk={t.trunk} data-state={t.state}>
      <header>
        <h2>{t.trunk}</h2>
        <span className="badge">{t.state === 'alarm' ? 'ALARM' : 'OK'}</span>
      </header>
      {t.state === 'alarm' && <p className="why">{trunkTrouble(t)}</p>}
      <div className="figures">
        <Figure label="attempts/s" field="cps_1s" value={t.cps_1s} text={t.cps_1s.toFixed(1)} />
        <Figure label={`channels of ${num(t.capacity)}`} field="channels" value={t.channels} />
        <Figure label="answer rate (1 min)" field="asr_1m" value={t.asr_1m} text={pct(t.asr_1m)} />
        <Figure label="errors (1 min)" field="error_rate_1m" value={t.error_rate_1m}
          text={pct(t.error_rate_1m)} />
      </div>
      <div className="progress" title="channels in use">
        <div className="bar" style={{ width: `${Math.min(100, t.utilisation * 100)}%` }} />
        <span>{pct(t.utilisation)} of capacity · {num(t.attempts)} attempts · {num(t.errors)} errors</span>
      </div>
    </section>
  );
}

function FlowTile(props: { f: Flow & { name?: string } }) {
  const f = props.f;
  return (
    <section className="flow" data-flow-id={f.flow_id}>
      <header><h2>{f.name ?? `Flow ${f.flow_id}`}</h2></header>
      <div className="figures">
        <Figure label="executions" field="executions" value={f.executions} />
        <Figure label="hung up in flow" field="hangups" value={f.hangups} />
        <Figure label="no input" field="noinput" value={f.noinput} />
        <Figure label="no match" field="nomatch" value={f.nomatch} />
        <Figure label="errors" field="errors" value={f.errors} />
      </div>
      <ol className="dropoffs" aria-label="top drop-off nodes">
        {f.top_drop_offs.map((d) => (
          <li key={d.node} data-node={d.node} data-count={d.count}>
            <b>{d.node}</b> {num(d.count)} hung up
          </li>
        ))}
        {f.top_drop_offs.length === 0 && <li className="none">no caller hung up in the flow</li>}
      </ol>
      <table className="nodes">
        <tbody>
          {f.nodes.filter((n) => n.hits > 0).sort((a, b) => b.hits - a.hits).slice(0, 8).map((n) => (
            <tr key={n.node} data-node={n.node}>
              <th>{n.node}</th>
              <td>{num(n.hits)}</td>
              <td>{Object.entries(n.outcomes).map(([k, v]) => `${k} ${v}`).join(' · ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

// An import job: the rows read against the total ("about N" while it is an estimate).
function ImportTile({ p }: { p: ImportProgress }) {
  const share = importShare(p);
  return (
    <section className={`import state-${p.state}`} data-import={p.job_id} data-state={p.state}
      data-estimated={p.rows_total_estimated}>
      <header>
        <h2>{p.upload_id ?? p.job_id.slice(0, 8)}</h2>
        <span className="state">{p.state}</span>
      </header>
      <div className="progress" title="rows read">
        {share !== null && <div className="bar" style={{ width: `${share * 100}%` }} />}
        <span className="rows">{importRows(p)} · {num(p.rows_imported)} imported · {num(p.rows_rejected)} rejected</span>
      </div>
    </section>
  );
}

export function Wall(props: { token: () => string; onLogout(): void }) {
  const [campaigns, setCampaigns] = useState<Map<number, CampaignStats>>(new Map());
  const [health, setHealth] = useState<Health | null>(null);
  const [connected, setConnected] = useState(false);
  const [hist, setHist] = useState<Record<number, History>>({});
  const [hours, setHours] = useState<Record<number, Hour>>({});
  const shownIds = useRef<number[]>([]);
  const [dark, setDark] = useState(() => localStorage.getItem('dialer.wall.light') !== '1');
  const names = useRef<Map<number, string>>(new Map());
  const asked = useRef<Set<number>>(new Set());
  const [wall, setWall] = useState<WallState>(emptyWall);
  const [imports, setImports] = useState<ImportProgress[]>([]);
  const flowNames = useRef<Map<number, string>>(new Map());
  const flowAsked = useRef<Set<number>>(new Set());

  useEffect(() => {
    document.body.classList.toggle('dark', dark);
    localStorage.setItem('dialer.wall.light', dark ? '0' : '1');
  }, [dark]);

  useEffect(() => {
    const record = (m: Map<number, CampaignStats>, tsMs: number) => {
      setHist((prev) => {
        const next = { ...prev };
        const t = tsMs / 1000;
        for (const c of m.values()) {
          const h = next[c.campaign_id] ?? { t: [], cps: [], inProgress: [] };
          const keep = h.t.findIndex((x) => x >= t - HISTORY_S);
          const cut = keep < 0 ? h.t.length : keep;
          next[c.campaign_id] = {
            t: [...h.t.slice(cut), t],
            cps: [...h.cps.slice(cut), c.cps_1s ?? 0],
            inProgress: [...h.inProgress.slice(cut), c.in_progress ?? 0],
          };
        }
        return next;
      });
    };
    const live = new Live(props.token, {
      onSnapshot: (cs) => setCampaigns(() => {
        const m = new Map(cs.map((c) => [c.campaign_id, c]));
        record(m, Date.now());
        return m;
      }),
      onDelta: (ds, ts) => setCampaigns((prev) => {
        const m = applyDelta(prev, ds);
        record(m, ts || Date.now());
        return m;
      }),
      onHealth: setHealth,
      onConnected: setConnected,
      onWall: (parts, full) => setWall((prev) => applyWall(prev, parts, full)),
      onImport: (m) => setImports((prev) => applyImport(prev, m as unknown as ImportProgress)),
    });
    live.start();
    return () => live.stop();
  }, [props.token]);

  // Names come from the stats route once per campaign (the live feed carries figures only).
  useEffect(() => {
    for (const id of campaigns.keys()) {
      if (asked.current.has(id)) continue;
      asked.current.add(id);
      fetch(`/api/v1/campaigns/${id}/stats`, { headers: { Authorization: `Bearer ${props.token()}` } })
        .then((r) => (r.ok ? r.json() : null))
        .then((j: { name?: string } | null) => {
          if (j?.name) {
            names.current.set(id, j.name);
            setCampaigns((prev) => new Map(prev));
          }
        })
        .catch(() => asked.current.delete(id));
    }
  }, [campaigns, props.token]);

  // Flow names from the flows route, once per flow.
  useEffect(() => {
    for (const id of wall.flows.keys()) {
      if (flowAsked.current.has(id)) continue;
      flowAsked.current.add(id);
      fetch(`/api/v1/flows/${id}`, { headers: { Authorization: `Bearer ${props.token()}` } })
        .then((r) => (r.ok ? r.json() : null))
        .then((j: { name?: string } | null) => {
          if (j?.name) {
            flowNames.current.set(id, j.name);
            setWall((prev) => ({ ...prev }));
          }
        })
        .catch(() => flowAsked.current.delete(id));
    }
  }, [wall, props.token]);

  // The hour charts: at first sight of a campaign and once a minute after.
  useEffect(() => {
    let stop = false;
    const load = () => {
      for (const id of shownIds.current) {
        fetchHour(id, props.token())
          .then((h) => { if (h && !stop) setHours((prev) => ({ ...prev, [id]: h })); })
          .catch(() => undefined);
      }
    };
    load();
    const t = setInterval(load, HOUR_REFRESH_MS);
    return () => { stop = true; clearInterval(t); };
  }, [props.token, [...campaigns.keys()].sort().join()]);

  const shown = [...campaigns.values()]
    .filter((c) => ACTIVE.has(c.state))
    .map((c) => ({ ...c, name: names.current.get(c.campaign_id) ?? c.name }))
    .sort((a, b) => a.campaign_id - b.campaign_id);
  shownIds.current = shown.map((c) => c.campaign_id);
  const list = alarms(shown, health, connected, wall);
  const trunks = [...wall.trunks.values()].sort((a, b) => a.trunk.localeCompare(b.trunk));
  const flows = [...wall.flows.values()]
    .map((f) => ({ ...f, name: flowNames.current.get(f.flow_id) }))
    .sort((a, b) => a.flow_id - b.flow_id);
  const dnc = wall.compliance?.dnc_national;

  return (
    <div className="wall">
      <nav>
        <h1>Campaigns</h1>
        {dnc && dnc.state !== 'disabled' && (
          <span className={`dnc dnc-${dnc.state}`} data-dnc-state={dnc.state}>
            DNC list {dnc.country}: {dnc.state}{dnc.age_days !== undefined ? ` (${dnc.age_days} d)` : ''}
          </span>
        )}
        <span className={`conn ${connected ? 'up' : 'down'}`} data-connected={connected}>
          {connected ? 'live' : 'reconnecting…'}
        </span>
        <button onClick={() => setDark(!dark)}>{dark ? 'Light mode' : 'Wall mode'}</button>
        <button onClick={props.onLogout}>Sign out</button>
      </nav>
      <ul className="alarms" aria-live="assertive">
        {list.map((a) => (
          <li key={a.key} className={`alarm level-${a.level}`} data-alarm={a.key}>{a.text}</li>
        ))}
      </ul>
      {shown.length === 0 && <p className="empty">No campaign is running.</p>}
      <main className="tiles">
        {shown.map((c) => <Tile key={c.campaign_id} c={c} h={hist[c.campaign_id]} hour={hours[c.campaign_id]} />)}
      </main>
      {(trunks.length > 0 || wall.servers.length > 0) && (
        <section className="band">
          <h1>Trunks</h1>
          <div className="servers">
            {wall.servers.map((s) => (
              <span key={`${s.node}/${s.server}`} className={`server status-${s.status}`}
                data-server={s.server} data-status={s.status}>
                {s.server} · {s.node} · {s.status}
              </span>
            ))}
          </div>
          <div className="trunks">{trunks.map((t) => <TrunkTile key={t.trunk} t={t} />)}</div>
        </section>
      )}
      {imports.length > 0 && (
        <section className="band">
          <h1>Imports</h1>
          <div className="imports">{imports.map((p) => <ImportTile key={p.job_id} p={p} />)}</div>
        </section>
      )}
      {flows.length > 0 && (
        <section className="band">
          <h1>IVR flows</h1>
          <div className="flows">{flows.map((f) => <FlowTile key={f.flow_id} f={f} />)}</div>
        </section>
      )}
    </div>
  );
}

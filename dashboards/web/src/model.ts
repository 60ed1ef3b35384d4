// What the wall shows, derived from /ws/v1/live messages (docs/dashboards.md).

export interface CampaignStats {
  campaign_id: number;
  tenant_id: number;
  name?: string;
  state: string;
  nodes: number;
  cps_1s: number;
  cps_1m: number;
  attempts: number;
  answered: number;
  human: number;
  machine: number;
  busy: number;
  no_answer: number;
  failed: number;
  abandoned: number;
  ringing: number;
  in_progress: number;
  contacts_remaining: number;
  contacts_total: number;
  abandon_rate: number;
  abandon_cap: number;
  asr: number;
  avg_call_s: number;
  avg_handle_s: number;
  progress: number;
  eta_s: number | null;
  [k: string]: unknown;
}

export interface Health {
  postgresql: 'up' | 'down';
  redis: 'up' | 'down';
  ari: 'up' | 'down';
}

/** A tenant's traffic on a trunk (figures of the last minute where named _1m). */
export interface Trunk {
  trunk: string;
  nodes: number;
  attempts: number;
  answered: number;
  errors: number;
  ended: number;
  channels: number;
  capacity: number;
  cps_1s: number;
  cps_1m: number;
  attempts_1m: number;
  answered_1m: number;
  errors_1m: number;
  ended_1m: number;
  asr_1m: number;
  error_rate_1m: number;
  utilisation: number;
  servers: 'up' | 'degraded' | 'down' | 'none';
  state: 'ok' | 'alarm';
  reasons: string[];
}

export interface Server {
  node: string;
  server: string;
  status: 'up' | 'degraded' | 'down';
}

export interface FlowNode {
  node: string;
  hits: number;
  drop_offs: number;
  outcomes: Record<string, number>;
}

export interface Flow {
  flow_id: number;
  name?: string;
  executions: number;
  hangups: number;
  noinput: number;
  nomatch: number;
  errors: number;
  ended: Record<string, number>;
  nodes: FlowNode[];
  top_drop_offs: { node: string; count: number }[];
}

export interface Compliance {
  dnc_national: {
    state: 'fresh' | 'warning' | 'stale' | 'missing' | 'disabled';
    country: string;
    age_days?: number;
    stale_at_s?: number;
  };
}

/** What the tenant subscription carries besides campaigns (snapshot: all; delta: what changed). */
export interface WallParts {
  trunks?: Trunk[];
  servers?: Server[];
  flows?: Flow[];
  compliance?: Compliance;
}

export interface WallState {
  trunks: Map<string, Trunk>;
  servers: Server[];
  flows: Map<number, Flow>;
  compliance: Compliance | null;
}

export function emptyWall(): WallState {
  return { trunks: new Map(), servers: [], flows: new Map(), compliance: null };
}

/** Applies a snapshot (full: replaces) or a delta (changed trunks and flows, whole servers and compliance). */
export function applyWall(prev: WallState, parts: WallParts, full: boolean): WallState {
  const next: WallState = full ? emptyWall() : { ...prev, trunks: new Map(prev.trunks), flows: new Map(prev.flows) };
  for (const t of parts.trunks ?? []) next.trunks.set(t.trunk, t);
  for (const f of parts.flows ?? []) next.flows.set(f.flow_id, f);
  if (parts.servers) next.servers = parts.servers;
  if (parts.compliance) next.compliance = parts.compliance;
  return next;
}

export type Level = 'ok' | 'warn' | 'alarm';

/** Abandonment against the cap: warn from 80 % of the cap, alarm at the cap. */
export function abandonLevel(rate: number, cap: number): Level {
  if (cap <= 0) return rate > 0 ? 'alarm' : 'ok';
  if (rate >= cap) return 'alarm';
  if (rate >= cap * 0.8) return 'warn';
  return 'ok';
}

export interface Alarm {
  key: string;
  level: Level;
  text: string;
}

const REASON: Record<string, string> = {
  errors: 'calls failing',
  server_down: 'Asterisk server down',
  server_degraded: 'Asterisk server degraded',
};

/** Why a trunk is red, in words. */
export function trunkTrouble(t: Trunk): string {
  return t.reasons
    .map((r) => (r === 'errors' ? `${pct(t.error_rate_1m)} of calls failing` : REASON[r] ?? r))
    .join(', ');
}

/** The national DNC list's state as an alarm (null when fresh or not watched). */
export function dncAlarm(c: Compliance | null): Alarm | null {
  const d = c?.dnc_national;
  if (!d || d.state === 'fresh' || d.state === 'disabled') return null;
  const list = `National DNC list (${d.country || 'national'})`;
  if (d.state === 'missing') {
    return { key: 'dnc', level: 'alarm', text: `${list} missing — numbers of that country are not dialed` };
  }
  if (d.state === 'stale') {
    return {
      key: 'dnc', level: 'alarm',
      text: `${list} stale${d.age_days !== undefined ? ` (${d.age_days} days old)` : ''} — load a newer registry file`,
    };
  }
  const when = d.stale_at_s ? new Date(d.stale_at_s * 1000).toISOString().slice(0, 10) : 'soon';
  return { key: 'dnc', level: 'warn', text: `${list} goes stale on ${when} — load a newer registry file` };
}

/** Alarms for the banner: dependencies down, the national DNC list, servers, trunks, abandonment. */
export function alarms(
  campaigns: CampaignStats[],
  health: Health | null,
  connected: boolean,
  wall: WallState = emptyWall(),
): Alarm[] {
  const out: Alarm[] = [];
  if (!connected) out.push({ key: 'ws', level: 'alarm', text: 'Live feed disconnected — reconnecting' });
  if (health) {
    if (health.ari !== 'up') out.push({ key: 'ari', level: 'alarm', text: 'ARI disconnected' });
    if (health.redis !== 'up') out.push({ key: 'redis', level: 'alarm', text: 'Redis down' });
    if (health.postgresql !== 'up') out.push({ key: 'pg', level: 'alarm', text: 'PostgreSQL down' });
  }
  const dnc = dncAlarm(wall.compliance);
  if (dnc) out.push(dnc);
  for (const s of wall.servers) {
    if (s.status !== 'up') {
      out.push({
        key: `srv-${s.node}-${s.server}`,
        level: 'alarm',
        text: `Asterisk ${s.server} (${s.node}) ${s.status.toUpperCase()}`,
      });
    }
  }
  for (const t of wall.trunks.values()) {
    if (t.state === 'alarm') {
      out.push({ key: `trunk-${t.trunk}`, level: 'alarm', text: `Trunk ${t.trunk}: ${trunkTrouble(t)}` });
    }
  }
  for (const c of campaigns) {
    const lvl = abandonLevel(c.abandon_rate, c.abandon_cap);
    if (lvl !== 'ok') {
      out.push({
        key: `ab-${c.campaign_id}`,
        level: lvl,
        text: `${c.name ?? `Campaign ${c.campaign_id}`}: abandonment ${pct(c.abandon_rate)} (cap ${pct(c.abandon_cap)})`,
      });
    }
  }
  return out;
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)} %`;
}

/** Applies a delta (changed fields only) to the known campaigns. */
export function applyDelta(
  known: Map<number, CampaignStats>,
  deltas: Partial<CampaignStats>[],
): Map<number, CampaignStats> {
  const next = new Map(known);
  for (const d of deltas) {
    if (typeof d.campaign_id !== 'number') continue;
    const prev = next.get(d.campaign_id);
    next.set(d.campaign_id, { ...(prev ?? ({} as CampaignStats)), ...d } as CampaignStats);
  }
  return next;
}

/** Reconnect back-off: 0.5 s doubling to 30 s, with up to 20 % jitter. */
export function backoff(attempt: number, rnd: number): number {
  const base = Math.min(30_000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (1 + 0.2 * rnd));
}

/** An import job's progress, as the "import" messages of /ws/v1/live carry it. */
export interface ImportProgress {
  job_id: string;
  upload_id: string | null;
  list_id: number | null;
  state: string;
  rows_read: number;
  rows_imported: number;
  rows_rejected: number;
  rows_total: number | null;
  rows_total_estimated: boolean;
}

/** Imports kept on the wall: the running ones and the last few that ended. */
export const IMPORTS_SHOWN = 5;

/** Applies an "import" message: the job's latest progress, newest first, at most IMPORTS_SHOWN. */
export function applyImport(prev: ImportProgress[], m: ImportProgress): ImportProgress[] {
  return [m, ...prev.filter((p) => p.job_id !== m.job_id)].slice(0, IMPORTS_SHOWN);
}

const n = (x: number): string => x.toLocaleString('en-US');

/**
 * The rows line of an import: "about N" while the total is an estimate from the bytes read,
 * the exact count once the importer knows it, no total while it is unknown.
 */
export function importRows(p: ImportProgress): string {
  if (p.rows_total === null) return `${n(p.rows_read)} rows read`;
  const total = p.rows_total_estimated ? `about ${n(p.rows_total)}` : n(p.rows_total);
  return `${n(p.rows_read)} of ${total} rows read`;
}

/** Share of the rows read (0 to 1), null while the total is unknown. */
export function importShare(p: ImportProgress): number | null {
  if (p.rows_total === null) return null;
  if (p.rows_total <= 0) return 1;
  return Math.min(1, p.rows_read / p.rows_total);
}

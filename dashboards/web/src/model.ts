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

/** Alarms for the banner: dependencies down, abandonment near the cap, trunk errors. */
export function alarms(
  campaigns: CampaignStats[],
  health: Health | null,
  connected: boolean,
  failedDelta: Record<number, number>,
): Alarm[] {
  const out: Alarm[] = [];
  if (!connected) out.push({ key: 'ws', level: 'alarm', text: 'Live feed disconnected — reconnecting' });
  if (health) {
    if (health.ari !== 'up') out.push({ key: 'ari', level: 'alarm', text: 'ARI disconnected' });
    if (health.redis !== 'up') out.push({ key: 'redis', level: 'alarm', text: 'Redis down' });
    if (health.postgresql !== 'up') out.push({ key: 'pg', level: 'alarm', text: 'PostgreSQL down' });
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
    const f = failedDelta[c.campaign_id] ?? 0;
    if (f >= 5) {
      out.push({
        key: `tr-${c.campaign_id}`,
        level: 'warn',
        text: `${c.name ?? `Campaign ${c.campaign_id}`}: ${f} failed calls in the last minute (trunk errors)`,
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

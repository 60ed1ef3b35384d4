import { describe, expect, it } from 'vitest';
import {
  abandonLevel, alarms, applyDelta, applyImport, applyWall, backoff, dncAlarm, emptyWall,
  importRows, importShare, IMPORTS_SHOWN, trunkTrouble,
  type CampaignStats, type ImportProgress, type Trunk,
} from './model';

const base = { campaign_id: 1, tenant_id: 1, abandon_rate: 0, abandon_cap: 0.03 } as CampaignStats;

describe('abandonment colour', () => {
  it('is ok well under the cap, warns near it, alarms at it', () => {
    expect(abandonLevel(0.01, 0.03)).toBe('ok');
    expect(abandonLevel(0.025, 0.03)).toBe('warn');
    expect(abandonLevel(0.03, 0.03)).toBe('alarm');
  });
});

describe('alarms', () => {
  it('names every dependency that is down and the campaign near its cap', () => {
    const a = alarms([{ ...base, abandon_rate: 0.029, name: 'Spring' }],
      { postgresql: 'up', redis: 'down', ari: 'down' }, true);
    expect(a.map((x) => x.key)).toEqual(['ari', 'redis', 'ab-1']);
    expect(a[2].text).toContain('Spring');
  });
  it('reports a lost live feed', () => {
    expect(alarms([], null, false)[0].key).toBe('ws');
  });
  it('names a red trunk, a server not up and a stale national list', () => {
    const t = { trunk: 'carrier-a', state: 'alarm', reasons: ['errors', 'server_degraded'], error_rate_1m: 0.35 } as Trunk;
    const ok = { trunk: 'carrier-b', state: 'ok', reasons: [] as string[] } as Trunk;
    const w = applyWall(emptyWall(), {
      trunks: [t, ok],
      servers: [{ node: 'n1', server: 'ast1', status: 'degraded' }],
      compliance: { dnc_national: { state: 'stale', country: 'US', age_days: 40 } },
    }, true);
    const a = alarms([], null, true, w);
    expect(a.map((x) => x.key)).toEqual(['dnc', 'srv-n1-ast1', 'trunk-carrier-a']);
    expect(a[0].text).toContain('40 days');
    expect(a[1].text).toContain('DEGRADED');
    expect(a[2].text).toBe('Trunk carrier-a: 35.0 % of calls failing, Asterisk server degraded');
    expect(trunkTrouble(ok)).toBe('');
  });
});

describe('national DNC list', () => {
  it('is silent when fresh or not watched, warns before it goes stale, alarms when missing', () => {
    expect(dncAlarm(null)).toBeNull();
    expect(dncAlarm({ dnc_national: { state: 'fresh', country: 'US' } })).toBeNull();
    expect(dncAlarm({ dnc_national: { state: 'disabled', country: '' } })).toBeNull();
    expect(dncAlarm({ dnc_national: { state: 'warning', country: 'US', stale_at_s: 1798761600 } })?.text)
      .toContain('2027-01-01');
    expect(dncAlarm({ dnc_national: { state: 'missing', country: 'US' } })?.level).toBe('alarm');
  });
});

describe('wall parts', () => {
  it('merge deltas by trunk name and flow id; a snapshot replaces', () => {
    const t = (name: string, attempts: number) => ({ trunk: name, attempts }) as Trunk;
    let w = applyWall(emptyWall(), { trunks: [t('a', 1), t('b', 2)] }, true);
    w = applyWall(w, { trunks: [t('a', 5)], servers: [] }, false);
    expect(w.trunks.get('a')?.attempts).toBe(5);
    expect(w.trunks.get('b')?.attempts).toBe(2);
    w = applyWall(w, { trunks: [t('c', 1)] }, true);
    expect([...w.trunks.keys()]).toEqual(['c']);
  });
});

describe('deltas', () => {
  it('change only the fields they carry', () => {
    const m = new Map([[1, { ...base, attempts: 5, answered: 2 } as CampaignStats]]);
    const n = applyDelta(m, [{ campaign_id: 1, attempts: 8 }]);
    expect(n.get(1)?.attempts).toBe(8);
    expect(n.get(1)?.answered).toBe(2);
    expect(m.get(1)?.attempts).toBe(5);
  });
});

describe('back-off', () => {
  it('doubles and is capped at 30 s', () => {
    expect(backoff(0, 0)).toBe(500);
    expect(backoff(3, 0)).toBe(4000);
    expect(backoff(20, 0)).toBe(30000);
    expect(backoff(20, 1)).toBe(36000);
  });
});

describe('import progress', () => {
  const run: ImportProgress = {
    job_id: 'j1', upload_id: 'crm-42', list_id: 7, state: 'running', rows_read: 5000,
    rows_imported: 4900, rows_rejected: 100, rows_total: 20011, rows_total_estimated: true,
  };
  it('says "about N" while the total is an estimate, the exact count after', () => {
    expect(importRows(run)).toBe('5,000 of about 20,011 rows read');
    expect(importRows({ ...run, state: 'completed', rows_read: 20000, rows_total: 20000,
      rows_total_estimated: false })).toBe('20,000 of 20,000 rows read');
  });
  it('shows no total while it is unknown', () => {
    expect(importRows({ ...run, rows_total: null, rows_total_estimated: false })).toBe('5,000 rows read');
    expect(importShare({ ...run, rows_total: null })).toBeNull();
  });
  it('fills the bar by the rows read, never past full', () => {
    expect(importShare(run)).toBeCloseTo(5000 / 20011);
    expect(importShare({ ...run, rows_read: 20100 })).toBe(1);
    expect(importShare({ ...run, rows_read: 0, rows_total: 0, rows_total_estimated: false })).toBe(1);
  });
  it('keeps each job once, newest first, a bounded number of them', () => {
    let l: ImportProgress[] = [];
    l = applyImport(l, run);
    l = applyImport(l, { ...run, job_id: 'j2' });
    l = applyImport(l, { ...run, rows_read: 6000 });
    expect(l.map((p) => [p.job_id, p.rows_read])).toEqual([['j1', 6000], ['j2', 5000]]);
    for (let i = 0; i < 10; i++) l = applyImport(l, { ...run, job_id: `k${i}` });
    expect(l).toHaveLength(IMPORTS_SHOWN);
    expect(l[0].job_id).toBe('k9');
  });
});

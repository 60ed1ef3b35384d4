import { describe, expect, it } from 'vitest';
import { abandonLevel, alarms, applyDelta, backoff, type CampaignStats } from './model';

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
      { postgresql: 'up', redis: 'down', ari: 'down' }, true, {});
    expect(a.map((x) => x.key)).toEqual(['ari', 'redis', 'ab-1']);
    expect(a[2].text).toContain('Spring');
  });
  it('reports a lost live feed', () => {
    expect(alarms([], null, false, {})[0].key).toBe('ws');
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

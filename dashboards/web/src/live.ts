// The /ws/v1/live client: authenticates with the access token in its first
// message (never in the URL, which proxies log), subscribes to the tenant,
// and reconnects with back-off when the socket drops.
import { backoff, type CampaignStats, type Health, type WallParts } from './model';

export interface LiveHandlers {
  onSnapshot(c: CampaignStats[]): void;
  onDelta(c: Partial<CampaignStats>[], ts: number): void;
  onHealth(h: Health): void;
  onConnected(up: boolean): void;
  onImport?(m: Record<string, unknown>): void;
  /** Trunks, servers, IVR flows and compliance: the whole set (full) or what changed. */
  onWall?(parts: WallParts, full: boolean): void;
}

export class Live {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastMessage = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(
    private token: () => string,
    private h: LiveHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
    // No message (not even a heartbeat) for 30 s: the connection is dead.
    this.watchdog = setInterval(() => {
      if (this.ws && this.lastMessage > 0 && Date.now() - this.lastMessage > 30_000) this.ws.close();
    }, 5_000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.ws?.close();
    this.ws = null;
  }

  private connect(): void {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws/v1/live`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: this.token() }));
    ws.onmessage = (ev) => this.message(ws, String(ev.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.h.onConnected(false);
      if (!this.stopped) {
        this.timer = setTimeout(() => this.connect(), backoff(this.attempt++, Math.random()));
      }
    };
  }

  private message(ws: WebSocket, text: string): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    this.lastMessage = Date.now();
    switch (m.type) {
      case 'hello':
        this.attempt = 0;
        this.h.onConnected(true);
        if (m.health) this.h.onHealth(m.health as Health);
        ws.send(JSON.stringify({ type: 'subscribe', tenant: true }));
        break;
      case 'snapshot':
        this.h.onSnapshot(m.campaigns as CampaignStats[]);
        this.h.onWall?.(m as WallParts, true);
        break;
      case 'delta':
        this.h.onDelta((m.campaigns ?? []) as Partial<CampaignStats>[], Number(m.ts));
        this.h.onWall?.(m as WallParts, false);
        break;
      case 'heartbeat':
        if (m.health) this.h.onHealth(m.health as Health);
        break;
      case 'import':
        this.h.onImport?.(m);
        break;
      default:
        break;
    }
  }
}

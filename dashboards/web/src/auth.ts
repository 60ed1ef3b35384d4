// Session handling: the same accounts as the REST API. POST /api/v1/auth/login
// gives an access token (JWT, 15 min) and a refresh token; the access token is
// refreshed one minute before it expires (the refresh token rotates on use).

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: number; // epoch ms
}

const KEY = 'dialer.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

/** The "exp" claim of a JWT in epoch ms (0 when unreadable). */
export function tokenExpiry(jwt: string): number {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part)) as { exp?: number };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : 0;
  } catch {
    return 0;
  }
}

interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in?: number;
}

function fromPair(p: TokenPair): Session {
  const exp = tokenExpiry(p.access_token) || Date.now() + (p.expires_in ?? 900) * 1000;
  return { accessToken: p.access_token, refreshToken: p.refresh_token, expiresAt: exp };
}

async function errorText(r: Response): Promise<string> {
  try {
    const body = (await r.json()) as { error?: { message?: string } };
    return body.error?.message ?? `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

export async function login(email: string, password: string): Promise<Session> {
  const r = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!r.ok) throw new Error(await errorText(r));
  return fromPair((await r.json()) as TokenPair);
}

export async function refresh(s: Session): Promise<Session> {
  const r = await fetch('/api/v1/auth/refresh', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: s.refreshToken }),
  });
  if (!r.ok) throw new Error(await errorText(r));
  return fromPair((await r.json()) as TokenPair);
}

/** Milliseconds until the session should be refreshed (one minute before expiry). */
export function refreshDelay(s: Session, now: number): number {
  return Math.max(0, s.expiresAt - now - 60_000);
}

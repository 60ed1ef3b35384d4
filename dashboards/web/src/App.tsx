import { useCallback, useEffect, useRef, useState } from 'react';
import { loadSession, refresh, refreshDelay, saveSession, type Session } from './auth';
import { Login } from './Login';
import { Wall } from './Wall';

export function App() {
  const [session, setSession] = useState<Session | null>(() => {
    const s = loadSession();
    return s && s.expiresAt > Date.now() ? s : null;
  });
  const current = useRef(session);
  current.current = session;

  const set = useCallback((s: Session | null) => {
    saveSession(s);
    setSession(s);
  }, []);

  // Refresh the access token a minute before it expires; sign out when refused.
  useEffect(() => {
    if (!session) return;
    const t = setTimeout(() => {
      refresh(session).then(set, () => set(null));
    }, refreshDelay(session, Date.now()));
    return () => clearTimeout(t);
  }, [session, set]);

  const token = useCallback(() => current.current?.accessToken ?? '', []);

  if (!session) return <Login onLogin={set} />;
  return <Wall token={token} onLogout={() => set(null)} />;
}

import { claimsOf } from 'chat-service/client';

/**
 * Who is signed in, kept in localStorage so a reload keeps the session until Sign out or expiry.
 * Two ways in: the dev sign-in (POST /dev/token, development only) or a token handed over by the embedding platform
 * (`/#token=<jwt>` in the address, or `postMessage({ type: 'chat:token', token })` from the parent window).
 */
export interface Session {
  token: string;
  userId: string;
  name: string | null;
  role: string;
  /** A dev sign-in can mint its own token again when this one nears its expiry. */
  dev: { name?: string; role?: string; businessIds?: string[] } | null;
}

const KEY = 'chat.session';

export function expired(token: string, marginS = 0): boolean {
  const { exp } = claimsOf(token);
  return typeof exp === 'number' && exp * 1000 <= Date.now() + marginS * 1000;
}

function fromToken(token: string, dev: Session['dev']): Session | null {
  const { sub, name, role } = claimsOf(token);
  if (typeof sub !== 'string' || expired(token)) return null;
  return { token, userId: sub, name: typeof name === 'string' ? name : null, role: typeof role === 'string' ? role : 'user', dev };
}

export function loadSession(): Session | null {
  // A token in the address wins (the platform opened us for this user) and leaves the address at once.
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    history.replaceState(null, '', location.pathname + location.search);
    const session = fromToken(decodeURIComponent(match[1]!), null);
    if (session) saveSession(session);
    return session;
  }
  const session = stored();
  if (!session || (expired(session.token) && !session.dev)) return null;
  return session;
}

/** The session kept in this browser, as kept (expired or not); null when there is none or it is unreadable. */
function stored(): Session | null {
  try {
    const session = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    return session && typeof session.token === 'string' ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
}

export class SignInError extends Error {}

export async function devSignIn(input: { userId: string; name?: string; role?: string; businessIds?: string[] }): Promise<Session> {
  const res = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  if (res.status === 404) throw new SignInError('Sign-in by user id is turned off on this server: open this app from your platform.');
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as { detail?: string; title?: string };
    throw new SignInError(problem.detail ?? problem.title ?? `Sign-in failed (${res.status})`);
  }
  const { token } = (await res.json()) as { token: string };
  const dev = {
    ...(input.name ? { name: input.name } : {}),
    ...(input.role ? { role: input.role } : {}),
    ...(input.businessIds?.length ? { businessIds: input.businessIds } : {}),
  };
  const session = fromToken(token, dev);
  if (!session) throw new SignInError('The server answered a token this app cannot read.');
  return session;
}

/** A fresh token for a session: a dev session mints one; an embedded one asks its parent window. */
export async function renewToken(session: Session): Promise<string> {
  if (session.dev) return (await devSignIn({ userId: session.userId, ...session.dev })).token;
  if (window.parent !== window) {
    window.parent.postMessage({ type: 'chat:token-request' }, '*');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        removeEventListener('message', onMessage);
        reject(new Error('no token from the platform'));
      }, 10_000);
      const onMessage = (e: MessageEvent) => {
        const token = tokenOf(e);
        if (!token) return;
        clearTimeout(timer);
        removeEventListener('message', onMessage);
        resolve(token);
      };
      addEventListener('message', onMessage);
    });
  }
  throw new Error('the session has expired');
}

/** A token posted by the embedding page: `{ type: 'chat:token', token }` from the parent window only. */
export function tokenOf(e: MessageEvent): string | null {
  if (e.source !== window.parent || window.parent === window) return null;
  const data = e.data as { type?: unknown; token?: unknown } | null;
  return data && data.type === 'chat:token' && typeof data.token === 'string' ? data.token : null;
}

/** Accepts a token from the parent window (the embedding platform) as a new session. */
export function sessionFromMessage(e: MessageEvent): Session | null {
  const token = tokenOf(e);
  return token ? fromToken(token, null) : null;
}

/** The businesses the signed-in user's token names (for business rooms). */
export function businessesOf(): string[] {
  const session = stored();
  if (!session) return [];
  const ids = claimsOf(session.token).businessIds;
  return Array.isArray(ids) ? ids.filter((b): b is string => typeof b === 'string') : [];
}

import { useEffect, useState } from 'react';

/** Screens live in the address's hash (`#/r/<roomId>`, `#/search`, `#/support`) so a reload comes back to them. */
export type Route =
  { screen: 'home' } | { screen: 'room'; roomId: string; messageId?: string } | { screen: 'search' } | { screen: 'support' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] === 'r' && parts[1]) return { screen: 'room', roomId: parts[1], ...(parts[2] ? { messageId: parts[2] } : {}) };
  if (parts[0] === 'search') return { screen: 'search' };
  if (parts[0] === 'support') return { screen: 'support' };
  return { screen: 'home' };
}

export function hrefOf(route: Route): string {
  switch (route.screen) {
    case 'room':
      return `#/r/${encodeURIComponent(route.roomId)}${route.messageId ? `/${encodeURIComponent(route.messageId)}` : ''}`;
    case 'home':
      return '#/';
    default:
      return `#/${route.screen}`;
  }
}

export function navigate(route: Route): void {
  location.hash = hrefOf(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

import { useEffect, useRef, useState } from 'react';
import { ChatError, type ChatApi } from 'chat-service/client';
import { useChat } from '../chat';
import { navigate } from '../route';
import './panels.css';

type SubscriptionInput = Parameters<ChatApi['subscribePush']>[0];
type State = 'checking' | 'off' | 'on' | 'busy';

const SW_URL = '/sw.js';
/** Every browser step has a bound: a push service that never answers must not leave the button spinning. */
const PERMISSION_WAIT_MS = 60_000;
const STEP_WAIT_MS = 15_000;

const supported = () =>
  typeof navigator !== 'undefined' &&
  'serviceWorker' in navigator &&
  typeof window !== 'undefined' &&
  'PushManager' in window &&
  'Notification' in window;

function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** The VAPID key, base64url as the service gives it, as the bytes PushManager.subscribe() wants. */
export function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function subscriptionInput(sub: PushSubscription): SubscriptionInput {
  const json = sub.toJSON();
  return {
    endpoint: sub.endpoint,
    expirationTime: json.expirationTime ?? null,
    keys: { p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' },
  };
}

async function registration(): Promise<ServiceWorkerRegistration | undefined> {
  return within(navigator.serviceWorker.getRegistration('/'), STEP_WAIT_MS, 'The service worker did not answer.');
}

/**
 * At sign-out: this browser stops receiving the user's notifications (the service forgets the subscription, the
 * browser drops it), so the next person at the screen never sees them. Bounded and silent: sign-out never waits long.
 */
export async function dropPushSubscription(api: ChatApi): Promise<void> {
  if (!supported()) return;
  try {
    const sub = await within((await registration())?.pushManager.getSubscription() ?? Promise.resolve(null), STEP_WAIT_MS, 'no answer');
    if (!sub) return;
    await within(api.unsubscribePush(sub.endpoint), STEP_WAIT_MS, 'no answer').catch(() => {});
    await sub.unsubscribe();
  } catch {
    // Nothing to drop, or no push service: nothing more to do.
  }
}

/**
 * Web Push opt-in: registers the service worker (/sw.js), asks for permission, subscribes with the service's VAPID
 * key and hands the subscription to the service. Where there is no push service (headless browsers, some privacy
 * settings) or permission is refused, it says so and stays usable; where the browser has no Push API it is not shown.
 */
export function PushToggle() {
  const { client } = useChat();
  const [state, setState] = useState<State>('checking');
  const [status, setStatus] = useState('');
  const [available] = useState(supported);
  const mounted = useRef(true);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  // A notification clicked while the app is open: the service worker asks this window to show the room.
  useEffect(() => {
    if (!available) return;
    const onMessage = (e: MessageEvent) => {
      const data = e.data as { type?: unknown; chatRoomId?: unknown } | null;
      if (data?.type === 'chat:open-room' && typeof data.chatRoomId === 'string') navigate({ screen: 'room', roomId: data.chatRoomId });
    };
    navigator.serviceWorker.addEventListener('message', onMessage);
    navigator.serviceWorker.startMessages();
    return () => navigator.serviceWorker.removeEventListener('message', onMessage);
  }, [available]);

  // Whether this browser is subscribed already; if so the service is told again (it may have been renewed, or be
  // another user's on a shared browser since the last sign-in).
  useEffect(() => {
    if (!available) return;
    let current = true;
    (async () => {
      const sub = await (await registration())?.pushManager.getSubscription();
      if (!current) return;
      if (sub && Notification.permission === 'granted') {
        setState('on');
        await client.api.subscribePush(subscriptionInput(sub)).catch(() => {});
      } else setState('off');
    })().catch(() => current && setState('off'));
    return () => {
      current = false;
    };
  }, [available, client]);

  if (!available) return null;

  const finish = (next: 'on' | 'off', text: string) => {
    if (!mounted.current) return;
    setState(next);
    setStatus(text);
  };

  const enable = async () => {
    setState('busy');
    setStatus('Turning on…');
    try {
      const permission =
        Notification.permission === 'granted'
          ? 'granted'
          : await within(Notification.requestPermission(), PERMISSION_WAIT_MS, 'No answer to the permission request.');
      if (permission !== 'granted') {
        return finish('off', permission === 'denied' ? 'Notifications are blocked for this site in the browser.' : 'Not turned on.');
      }
      let key: string;
      try {
        key = await client.api.pushKey();
      } catch (err) {
        if (err instanceof ChatError && err.status === 404) return finish('off', 'This server does not send push notifications.');
        throw err;
      }
      const reg = await within(navigator.serviceWorker.register(SW_URL, { scope: '/' }), STEP_WAIT_MS, 'The service worker did not start.');
      await within(navigator.serviceWorker.ready, STEP_WAIT_MS, 'The service worker did not start.');
      let sub: PushSubscription;
      try {
        sub =
          (await reg.pushManager.getSubscription()) ??
          (await within(
            reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
            STEP_WAIT_MS,
            'No push service answered.',
          ));
      } catch {
        return finish('off', 'No push service is reachable from this browser: you get messages while the app is open.');
      }
      try {
        await client.api.subscribePush(subscriptionInput(sub));
      } catch (err) {
        // The service refused it: a browser subscription it does not know would only mislead the next visit.
        await sub.unsubscribe().catch(() => false);
        throw err;
      }
      finish('on', 'Notifications are on.');
    } catch (err) {
      finish('off', `Could not turn on notifications: ${(err as Error).message || 'unknown error'}`);
    }
  };

  const disable = async () => {
    setState('busy');
    setStatus('Turning off…');
    try {
      const sub = await (await registration())?.pushManager.getSubscription();
      if (sub) {
        await client.api.unsubscribePush(sub.endpoint).catch(() => {});
        await within(sub.unsubscribe(), STEP_WAIT_MS, 'The browser did not answer.');
      }
      finish('off', 'Notifications are off.');
    } catch (err) {
      finish('on', `Could not turn off notifications: ${(err as Error).message || 'unknown error'}`);
    }
  };

  const on = state === 'on';
  return (
    <div className="push-toggle">
      <button
        type="button"
        className="secondary"
        aria-busy={state === 'busy' || state === 'checking'}
        disabled={state === 'busy' || state === 'checking'}
        onClick={() => void (on ? disable() : enable())}
      >
        {on ? 'Disable notifications' : 'Enable notifications'}
      </button>
      <span role="status" className="small muted">
        {status}
      </span>
    </div>
  );
}

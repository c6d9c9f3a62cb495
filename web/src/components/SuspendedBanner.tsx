import { useEffect, useState } from 'react';
import type { ChatClient, SuspendedEvent } from 'chat-service/client';
import { useChat } from '../chat';
import './safety.css';

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** setTimeout's longest wait; a longer suspension is looked at again then. */
const MAX_WAIT_MS = 2 ** 31 - 1;

/** The user's suspension in force, from the SDK: set by the `suspended` event, gone when it ends or a reconnect drops it. */
export function useSuspension(client: ChatClient): SuspendedEvent | null {
  const [suspension, setSuspension] = useState(() => client.suspension);
  useEffect(() => {
    const sync = () => setSuspension(client.suspension);
    sync();
    const offSuspended = client.on('suspended', sync);
    // Each connection hears a suspension still in force again before it is live: a lifted one is forgotten then.
    const offState = client.on('state', (state) => state === 'live' && sync());
    return () => {
      offSuspended();
      offState();
    };
  }, [client]);
  useEffect(() => {
    if (!suspension?.until) return;
    const wait = Math.min(MAX_WAIT_MS, Math.max(0, Date.parse(suspension.until) - Date.now() + 500));
    // A copy, so a suspension still in force after a capped wait sets the next one.
    const timer = setTimeout(() => setSuspension(client.suspension && { ...client.suspension }), wait);
    return () => clearTimeout(timer);
  }, [client, suspension]);
  return suspension;
}

/** Says, while the user is suspended, until when and why; every write is refused by the service meanwhile anyway. */
export function SuspendedBanner() {
  const { client } = useChat();
  const suspension = useSuspension(client);
  if (!suspension) return null;
  return (
    <div className="banner banner-suspended" role="alert">
      <strong>
        Your account is suspended{' '}
        {suspension.until ? (
          <>
            until <time dateTime={suspension.until}>{when.format(new Date(suspension.until))}</time>
          </>
        ) : (
          'until a moderator lifts it'
        )}
        .
      </strong>{' '}
      You can read, but not write, edit or react. Reason: {suspension.reason}
    </div>
  );
}

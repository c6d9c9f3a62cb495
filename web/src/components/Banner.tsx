import { useChat, useClientState } from '../chat';

const TEXT: Record<string, string | null> = {
  connecting: 'Connecting…',
  offline: 'Offline — messages you send are kept and go out when the connection is back.',
  catching_up: 'Catching up…',
  closed: 'Disconnected.',
  live: null,
};

/**
 * What `client.state` says, when it is not "live". It floats over the screen (a snackbar) instead of taking a row: it
 * shows for a moment at every (re)connect, and a row coming and going moved everything below it under a pointer about
 * to click.
 */
export function Banner() {
  const { client } = useChat();
  const state = useClientState(client);
  const text = TEXT[state];
  return (
    <div className={`banner connection ${text ? `banner-${state}` : 'banner-hidden'}`} role="status" aria-live="polite">
      {text}
    </div>
  );
}

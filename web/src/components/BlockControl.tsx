import { useEffect, useState } from 'react';
import type { ChatClient } from 'chat-service/client';
import { useChat } from '../chat';
import { errorText } from '../paging';
import './safety.css';
import { ErrorText, Notice } from './Feedback';

/** Whether `userId` is among those the user blocks: the list is keyset-paged, read until found (it is short in practice). */
async function isBlocked(client: ChatClient, userId: string): Promise<boolean> {
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<ChatClient['api']['blocks']>> = await client.api.blocks({ limit: 100, ...(cursor ? { cursor } : {}) });
    if (page.data.some((b) => b.userId === userId)) return true;
    cursor = page.nextCursor;
  } while (cursor);
  return false;
}

/**
 * Block or unblock the other person of a direct room. The service tells them nothing beyond refusing their writes here,
 * so the words below promise no more than that.
 */
export function BlockControl({ partner, name }: { partner: string; name: string }) {
  const { client } = useChat();
  // null until the service has said; a failure to read leaves it unknown and says so.
  const [blocked, setBlocked] = useState<boolean | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState('');

  useEffect(() => {
    let current = true;
    isBlocked(client, partner).then(
      (b) => current && setBlocked(b),
      (err: unknown) => current && setError(errorText(err)),
    );
    return () => {
      current = false;
    };
  }, [client, partner]);

  const change = async (block: boolean) => {
    setBusy(true);
    setError(null);
    setNotice('');
    try {
      await (block ? client.api.block(partner) : client.api.unblock(partner));
      setBlocked(block);
      setConfirming(false);
      setNotice(block ? `${name} is blocked.` : `${name} is unblocked.`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="info-section block-control">
      <h3>Blocking</h3>
      <ErrorText error={error} />
      <Notice notice={notice} />
      {blocked === true && (
        <>
          <p>You have blocked this person: neither of you can write here until you unblock them.</p>
          <button type="button" className="secondary" disabled={busy} onClick={() => void change(false)}>
            Unblock
          </button>
        </>
      )}
      {blocked === false &&
        (confirming ? (
          <div className="confirm" role="group" aria-label={`Block ${name}?`}>
            <p>
              Block {name}? Neither of you can write in this conversation, and they cannot start a new one with you, until you unblock them.
              You will get no notifications from them.
            </p>
            <button type="button" className="danger-fill" disabled={busy} onClick={() => void change(true)} autoFocus>
              Yes, block
            </button>
            <button type="button" className="secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        ) : (
          <button type="button" className="secondary danger" onClick={() => setConfirming(true)}>
            Block
          </button>
        ))}
    </section>
  );
}

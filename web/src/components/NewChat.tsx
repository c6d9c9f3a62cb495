import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ChatError } from 'chat-service/client';
import { useChat } from '../chat';
import { navigate } from '../route';
import { businessesOf } from '../session';
import { ErrorText } from './Feedback';

type Kind = 'direct' | 'group' | 'business' | 'support';

/** "New chat": a direct chat by user id (the existing one if the pair has one), a group, a business room or support. */
export function NewChat() {
  const { client, userId } = useChat();
  const [open, setOpen] = useState(false);
  const [kind, setKind] = useState<Kind>('direct');
  const [people, setPeople] = useState('');
  const [title, setTitle] = useState('');
  const businesses = businessesOf();
  const [business, setBusiness] = useState(businesses[0] ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  const show = () => {
    setOpen(true);
    setError(null);
  };
  const hide = () => setOpen(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ids = people
      .split(/[,\s]+/)
      .map((p) => p.trim())
      .filter((p) => p && p !== userId);
    if (kind === 'direct' && ids.length !== 1) return setError('Enter the user id of the person to chat with.');
    if (kind === 'business' && !business) return setError('Your account belongs to no business.');
    setBusy(true);
    setError(null);
    try {
      const room = await client.api.createRoom({
        type: kind,
        ...(kind === 'support' ? {} : { participantIds: ids }),
        ...((kind === 'group' || kind === 'business') && title.trim() ? { name: title.trim() } : {}),
        ...(kind === 'business' ? { businessId: business } : {}),
      });
      hide();
      setPeople('');
      setTitle('');
      navigate({ screen: 'room', roomId: room.id });
    } catch (err) {
      setError(err instanceof ChatError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <button type="button" onClick={show} aria-haspopup="dialog" aria-expanded={open}>
        New chat
      </button>
      <dialog ref={dialog} className="new-chat" aria-labelledby="new-chat-title" onClose={() => setOpen(false)}>
        {open && (
          <form onSubmit={submit}>
            <h2 id="new-chat-title">New conversation</h2>
            <fieldset className="kinds">
              <legend>Kind</legend>
              {(['direct', 'group', 'business', 'support'] as const).map((k) => (
                <label key={k} className="inline">
                  <input type="radio" name="kind" value={k} checked={kind === k} onChange={() => setKind(k)} />
                  {k === 'direct' ? 'Direct' : k === 'group' ? 'Group' : k === 'business' ? 'Business' : 'Support'}
                </label>
              ))}
            </fieldset>
            {kind !== 'support' && (
              <label>
                Participant
                <input
                  value={people}
                  onChange={(e) => setPeople(e.target.value)}
                  placeholder={kind === 'direct' ? 'their user id' : 'user ids, comma-separated'}
                  autoFocus
                />
              </label>
            )}
            {(kind === 'group' || kind === 'business') && (
              <label>
                Title <span className="muted">(optional)</span>
                <input value={title} onChange={(e) => setTitle(e.target.value)} />
              </label>
            )}
            {kind === 'business' && (
              <label>
                Business
                <select value={business} onChange={(e) => setBusiness(e.target.value)}>
                  {businesses.map((b) => (
                    <option key={b} value={b}>
                      {b}
                    </option>
                  ))}
                </select>
              </label>
            )}
            {kind === 'support' && <p className="muted">Opens your conversation with the support team (the open one if you have one).</p>}
            <ErrorText error={error} />
            <div className="actions">
              <button type="button" className="secondary" onClick={hide}>
                Cancel
              </button>
              <button type="submit" disabled={busy}>
                Start
              </button>
            </div>
          </form>
        )}
      </dialog>
    </>
  );
}

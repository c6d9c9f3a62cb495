import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { REPORT_REASONS, type ReportReason } from 'chat-service/client';
import { useChat } from '../chat';
import { errorText } from '../paging';
import './safety.css';
import { ErrorText } from './Feedback';

const REASON_TEXT: Record<ReportReason, string> = {
  spam: 'Spam',
  abuse: 'Abuse',
  harassment: 'Harassment',
  other: 'Something else',
};
/** The contract's MAX_REPORT_DETAILS. */
const MAX_NOTE = 1000;

type Report = (messageId: string, opener?: HTMLElement | null) => void;
const ReportContext = createContext<Report | null>(null);

/** Opens the report dialog for a message (null outside the signed-in app). */
export const useReport = (): Report | null => useContext(ReportContext);

/**
 * Holds the one report dialog of the app, above the timeline: a message's row may leave the virtualised list (new
 * messages scroll it away) while its report is being written, and the dialog must not go with it.
 */
export function ReportProvider({ children }: { children: ReactNode }) {
  const [target, setTarget] = useState<{ messageId: string; opener: HTMLElement | null } | null>(null);
  const report = useCallback<Report>((messageId, opener = null) => setTarget({ messageId, opener }), []);
  const close = useCallback(() => {
    setTarget((t) => {
      // Back where the person was: the message's Actions button, when it is still on screen.
      if (t?.opener?.isConnected) queueMicrotask(() => t.opener?.focus());
      return null;
    });
  }, []);
  return (
    <ReportContext.Provider value={report}>
      {children}
      {target && <ReportDialog key={target.messageId} messageId={target.messageId} onClose={close} />}
    </ReportContext.Provider>
  );
}

/** Choose a reason, add a note if you like, confirm; the service keeps one open report per person and message. */
function ReportDialog({ messageId, onClose }: { messageId: string; onClose(): void }) {
  const { client } = useChat();
  const dialog = useRef<HTMLDialogElement>(null);
  const ids = useId();
  const [reason, setReason] = useState<ReportReason | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);

  const hide = () => dialog.current?.close();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!reason) return setError('Choose a reason.');
    setBusy(true);
    setError(null);
    try {
      const details = note.trim();
      await client.api.reportMessage(messageId, { reason, ...(details ? { details } : {}) });
      setDone(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} className="report" aria-labelledby={`${ids}-title`} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <h2 id={`${ids}-title`}>Report to moderators</h2>
        {done ? (
          <>
            <p role="status">Thank you. The moderators will review it.</p>
            <div className="actions">
              <button type="button" onClick={hide} autoFocus>
                Done
              </button>
            </div>
          </>
        ) : (
          <>
            <fieldset className="report-reasons">
              <legend>Reason</legend>
              {REPORT_REASONS.map((r) => (
                <label key={r} className="inline">
                  <input
                    type="radio"
                    name={`${ids}-reason`}
                    value={r}
                    checked={reason === r}
                    onChange={() => {
                      setReason(r);
                      setError(null);
                    }}
                  />
                  {REASON_TEXT[r]}
                </label>
              ))}
            </fieldset>
            <label>
              Note (optional)
              <textarea value={note} onChange={(e) => setNote(e.target.value)} maxLength={MAX_NOTE} rows={3} />
            </label>
            <p className="muted small">The moderators see this message and who reported it.</p>
            <ErrorText error={error} />
            <div className="actions">
              <button type="button" className="secondary" onClick={hide}>
                Cancel
              </button>
              <button type="submit" className="danger-fill" disabled={busy}>
                Submit report
              </button>
            </div>
          </>
        )}
      </form>
    </dialog>
  );
}

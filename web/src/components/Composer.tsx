import { useMemo, useRef, useState, type ChangeEvent, type FormEvent, type KeyboardEvent } from 'react';
import { ChatError, type ChatRoom, type Room } from 'chat-service/client';
import { useChat } from '../chat';
import { nameIn } from '../names';
import { size } from './Media';

/**
 * The composer: "Message" and "Send", files with upload progress, a reply being written, @mentions completed from the
 * room's participants. It stays usable offline: a send shows as pending at once and the SDK delivers it later, once.
 */
export function Composer({
  room,
  view,
  replyTo,
  onReplyDone,
}: {
  room: ChatRoom;
  view: Room;
  replyTo: string | null;
  onReplyDone(): void;
}) {
  const { userId } = useChat();
  const [text, setText] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [mentioned, setMentioned] = useState<string[]>([]);
  const [query, setQuery] = useState<string | null>(null);
  const [choice, setChoice] = useState(0);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const canSend = view.abilities.includes('send-message');
  const parent = replyTo ? room.messages.find((m) => m.id === replyTo) : undefined;

  const candidates = useMemo(() => {
    if (query === null) return [];
    const q = query.toLowerCase();
    return view.participants
      .filter((p) => p.userId !== userId)
      .filter((p) => p.userId.toLowerCase().startsWith(q) || (p.name ?? '').toLowerCase().startsWith(q))
      .slice(0, 8);
  }, [query, view, userId]);

  const onChange = (e: ChangeEvent<HTMLTextAreaElement>) => {
    const value = e.target.value;
    setText(value);
    if (value) room.startTyping();
    const caret = e.target.selectionStart ?? value.length;
    const match = /(?:^|\s)@([^\s@]{0,32})$/.exec(value.slice(0, caret));
    setQuery(match ? match[1]! : null);
    setChoice(0);
  };

  const complete = (participantId: string) => {
    const el = input.current;
    const caret = el?.selectionStart ?? text.length;
    const before = text.slice(0, caret).replace(/@([^\s@]{0,32})$/, `@${nameIn(view, participantId)} `);
    setText(before + text.slice(caret));
    setMentioned((m) => (m.includes(participantId) ? m : [...m, participantId]));
    setQuery(null);
    el?.focus();
  };

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    const content = text.trim();
    if (!content && files.length === 0) return;
    // Only mentions still written in the text count.
    const mentions = mentioned.filter((id) => content.includes(`@${nameIn(view, id)}`));
    const attached = files;
    setText('');
    setFiles([]);
    setMentioned([]);
    setQuery(null);
    setError(null);
    onReplyDone();
    room.stopTyping();
    if (attached.length) setProgress(0);
    room
      .send({
        content,
        ...(mentions.length ? { mentions } : {}),
        ...(replyTo ? { replyToId: replyTo } : {}),
        ...(attached.length ? { files: attached, onProgress: (f: number) => setProgress(f) } : {}),
      })
      .catch((err: unknown) => setError(err instanceof ChatError ? `Not sent: ${err.message}` : String(err)))
      .finally(() => {
        if (attached.length) setProgress(null);
      });
    input.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (candidates.length > 0) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        setChoice((c) => (c + (e.key === 'ArrowDown' ? 1 : candidates.length - 1)) % candidates.length);
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        complete(candidates[choice]!.userId);
        return;
      }
      if (e.key === 'Escape') return setQuery(null);
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) send(e);
  };

  if (!canSend) return <p className="muted pad composer-off">You can read this conversation but not write in it.</p>;

  return (
    <form className="composer" onSubmit={send}>
      {parent && (
        <div className="replying">
          <span>
            Replying to <strong>{nameIn(view, parent.senderId)}</strong>: {parent.content.slice(0, 80)}
          </span>
          <button type="button" className="link" onClick={onReplyDone}>
            Cancel reply
          </button>
        </div>
      )}
      {files.length > 0 && (
        <ul className="attachments" aria-label="Attachments">
          {files.map((f, i) => (
            <li key={i}>
              {f.name} <span className="muted small">{size(f.size)}</span>
              <button
                type="button"
                className="link"
                aria-label={`Remove ${f.name}`}
                onClick={() => setFiles((all) => all.filter((_, j) => j !== i))}
              >
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      {progress !== null && <progress className="upload" max={1} value={progress} aria-label="Upload progress" />}
      {candidates.length > 0 && (
        <ul className="mentions" role="listbox" id="mention-list" aria-label="People to mention">
          {candidates.map((p, i) => (
            <li
              key={p.userId}
              role="option"
              aria-selected={i === choice}
              onMouseDown={(e) => {
                e.preventDefault();
                complete(p.userId);
              }}
            >
              {p.name ?? p.userId} <span className="muted small">{p.userId}</span>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <button type="button" className="icon" aria-label="Attach file" onClick={() => picker.current?.click()}>
          <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
            <path
              d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5"
              fill="none"
              stroke="currentColor"
              strokeWidth="1.8"
              strokeLinecap="round"
            />
          </svg>
        </button>
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          aria-hidden="true"
          tabIndex={-1}
          onChange={(e) => {
            const chosen = [...(e.target.files ?? [])];
            setFiles((all) => [...all, ...chosen].slice(0, 10));
            e.target.value = '';
          }}
        />
        <textarea
          ref={input}
          aria-label="Message"
          placeholder="Write a message"
          rows={1}
          value={text}
          onChange={onChange}
          onKeyDown={onKeyDown}
          onBlur={() => room.stopTyping()}
          aria-autocomplete="list"
          aria-controls={candidates.length ? 'mention-list' : undefined}
          aria-activedescendant={undefined}
          maxLength={10000}
        />
        <button type="submit">Send</button>
      </div>
      {error && (
        <p role="alert" className="error small">
          {error}
        </p>
      )}
    </form>
  );
}

import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import { Virtuoso, type ListProps, type VirtuosoHandle } from 'react-virtuoso';
import type { ChatRoom, Room, TimelineMessage } from 'chat-service/client';
import { useChat } from '../chat';
import { formatDay, sameDay } from '../names';
import { MessageItem, quoted, tickOf } from './MessageItem';

// Virtuoso keeps the scroll position when older messages are prepended if the first item's index drops by exactly
// the number prepended: seq is dense, so an index derived from seq does that.
const BASE = 1_000_000_000;
const keyOf = (m: TimelineMessage) => (m.clientMessageId ? `c:${m.clientMessageId}` : m.id);
const scrollerOf = (el: Element | null | undefined) => el?.closest<HTMLElement>('[data-virtuoso-scroller]');

/**
 * The list opened at its newest message, shown in the first frame that has it there. Virtuoso hides a list that
 * starts anywhere but its top until it has checked the position: four frames, a scroll, then 150 ms without a size
 * change, so a room appeared 150–200 ms after it had reached its bottom. The layout says when that is (checked after
 * every render and every scroll, before the frame is painted): the newest row is drawn, every drawn row is measured
 * (its `data-known-size` is its height; a first frame drawn at the default height is off by the difference), and the
 * newest row ends inside the scroller. Virtuoso keeps sizes in whole pixels, so its bottom may sit up to a pixel a row
 * below. A jump into the middle keeps Virtuoso's check.
 */
function ShownList({ style, ref, ...props }: ListProps) {
  const list = useRef<HTMLDivElement | null>(null);
  const settling = style?.visibility === 'hidden';
  const show = useCallback(() => {
    const el = list.current;
    const scroller = scrollerOf(el);
    const rows = el ? [...el.children] : [];
    // Rows below the last one drawn are padding: the newest is not drawn yet.
    if (!el || !scroller || rows.length === 0 || el.style.paddingBottom !== '0px') return;
    const heights = rows.map((row) => row.getBoundingClientRect().height);
    if (rows.some((row, i) => Math.abs(Number((row as HTMLElement).dataset['knownSize']) - heights[i]!) >= 1)) return;
    const newest = rows.at(-1)!.getBoundingClientRect();
    const view = scroller.getBoundingClientRect();
    // React leaves the hidden style alone while its prop stays the same; Virtuoso's own check drops it later.
    if (newest.bottom <= view.bottom + rows.length && newest.bottom > view.top) el.style.visibility = 'visible';
  }, []);
  useLayoutEffect(() => {
    if (settling) show();
  });
  useLayoutEffect(() => {
    const scroller = scrollerOf(list.current);
    if (!settling || !scroller) return;
    scroller.addEventListener('scroll', show);
    return () => scroller.removeEventListener('scroll', show);
  }, [settling, show]);
  const refs = useCallback(
    (el: HTMLDivElement | null) => {
      list.current = el;
      if (typeof ref === 'function') ref(el);
      else if (ref) ref.current = el;
    },
    [ref],
  );
  return <div {...props} ref={refs} style={style} />;
}
const SHOWN_AT_ONCE = { List: ShownList };

/**
 * A room's history, virtualised (only what is near the viewport is in the DOM), with day separators, an "Unread" line
 * at the first message unread when the room was opened, infinite scroll back, and read marking while at the bottom.
 */
export function Timeline(props: { room: ChatRoom; view: Room; focusId?: string | undefined; onReply(id: string): void }) {
  const { room, view, focusId, onReply } = props;
  const { userId } = useChat();
  const messages = room.messages;
  const list = useRef<VirtuosoHandle>(null);
  const [atBottom, setAtBottom] = useState(true);
  const [firstUnread] = useState(() => room.firstUnreadSeq);
  const [highlight, setHighlight] = useState<string | null>(null);
  const older = useRef(false);

  const firstSeq = messages.find((m) => m.seq !== null)?.seq ?? 1;
  const unreadHeld = firstUnread !== null && firstSeq <= firstUnread;
  // Where the list starts: the first unread message (or the newest) when the room opens; a jump (to a search result,
  // a quoted message, the first unread) starts the list afresh at its target (a new epoch remounts the list).
  const [anchor, setAnchor] = useState<{ epoch: number; index: number; align: 'start' | 'center' | 'end' }>(() => {
    const at = firstUnread === null ? -1 : messages.findIndex((m) => m.seq === firstUnread);
    return at >= 0 ? { epoch: 0, index: at, align: 'start' } : { epoch: 0, index: messages.length - 1, align: 'end' };
  });

  // Seen while the page is visible and the newest message is on screen: read (one call marks the whole room).
  const unread = room.unreadCount;
  useEffect(() => {
    if (!atBottom || unread === 0) return;
    const mark = () => {
      if (document.visibilityState === 'visible') void room.markRead().catch(() => {});
    };
    const timer = setTimeout(mark, 250);
    document.addEventListener('visibilitychange', mark);
    return () => {
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', mark);
    };
  }, [atBottom, unread, room]);

  const flash = useCallback((id: string) => {
    setHighlight(id);
    setTimeout(() => setHighlight((h) => (h === id ? null : h)), 2000);
  }, []);

  const scrollToId = useCallback(
    (id: string) => {
      const index = room.messages.findIndex((m) => m.id === id);
      if (index < 0) return false;
      list.current?.scrollToIndex({ index, align: 'center' });
      flash(id);
      return true;
    },
    [room, flash],
  );

  const jumpTo = useCallback(
    async (target: string | number, align: 'start' | 'center' = 'center') => {
      await room.jumpTo(target);
      const index = room.messages.findIndex((x) => (typeof target === 'number' ? x.seq === target : x.id === target));
      if (index < 0) return;
      setAnchor((a) => ({ epoch: a.epoch + 1, index, align }));
      flash(room.messages[index]!.id);
    },
    [room, flash],
  );

  useEffect(() => {
    if (focusId) void jumpTo(focusId).catch(() => {});
  }, [focusId, jumpTo]);

  const onQuote = useCallback(
    (id: string) => {
      if (!scrollToId(id)) void jumpTo(id).catch(() => {});
    },
    [scrollToId, jumpTo],
  );

  const loadOlder = useCallback(async () => {
    if (older.current) return;
    older.current = true;
    try {
      await room.loadOlder();
    } finally {
      older.current = false;
    }
  }, [room]);

  return (
    <div className="timeline" role="log" aria-label="Conversation" aria-live="polite" aria-relevant="additions">
      {firstUnread !== null && !unreadHeld && (
        <button type="button" className="jump" onClick={() => void jumpTo(firstUnread, 'start')}>
          Jump to first unread
        </button>
      )}
      {messages.length === 0 ? (
        <p className="muted pad">No messages yet. Say hello!</p>
      ) : (
        <Virtuoso
          ref={list}
          key={anchor.epoch}
          className="timeline-list"
          data={messages}
          firstItemIndex={BASE + firstSeq}
          initialTopMostItemIndex={{ index: Math.max(0, anchor.index), align: anchor.align }}
          {...(anchor.align === 'end' ? { components: SHOWN_AT_ONCE } : {})}
          computeItemKey={(_, m) => keyOf(m)}
          followOutput={(bottom) => (bottom ? 'auto' : false)}
          atBottomStateChange={setAtBottom}
          atBottomThreshold={48}
          defaultItemHeight={64}
          startReached={() => void loadOlder()}
          increaseViewportBy={{ top: 300, bottom: 200 }}
          itemContent={(index, m) => {
            const i = index - BASE - firstSeq;
            const prev = i > 0 ? messages[i - 1] : undefined;
            return (
              <div className="item">
                {(!prev || !sameDay(prev.createdAt, m.createdAt)) && (
                  <div className="day" role="separator">
                    <span>{formatDay(m.createdAt)}</span>
                  </div>
                )}
                {firstUnread !== null && m.seq === firstUnread && (
                  <div className="unread-line" role="separator">
                    <span>Unread</span>
                  </div>
                )}
                <MessageItem
                  room={room}
                  view={view}
                  message={m}
                  grouped={!!prev && prev.senderId === m.senderId && sameDay(prev.createdAt, m.createdAt) && !prev.deletedAt}
                  mine={m.senderId === userId}
                  highlighted={highlight === m.id}
                  tick={m.senderId === userId ? tickOf(room, view, m, userId) : null}
                  quote={m.replyTo ? quoted(room, m.replyTo) : null}
                  onReply={onReply}
                  onQuote={onQuote}
                />
              </div>
            );
          }}
        />
      )}
    </div>
  );
}

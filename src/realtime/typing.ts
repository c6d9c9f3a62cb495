import type { TypingEvent } from './realtime.events.js';

interface Typing {
  socketId: string;
  timer: NodeJS.Timeout;
  announcedAt: number;
}

/**
 * Typing state lives where the typist's socket is. A start is announced once and then renewed silently; only a
 * start arriving after half the timeout re-announces it, so a client repeating typing_start cannot flood the room.
 * A start not renewed within the timeout ends with isTyping: false, as does the typist's socket going away.
 */
export class TypingTracker {
  private readonly typing = new Map<string, Typing>();

  constructor(private readonly timeoutMs: number, private readonly announce: (event: TypingEvent) => void) {}

  start(userId: string, chatRoomId: string, socketId: string): void {
    const key = `${userId}\n${chatRoomId}`;
    const now = Date.now();
    const current = this.typing.get(key);
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => this.stop(userId, chatRoomId), this.timeoutMs);
    timer.unref();
    const reannounce = !current || now - current.announcedAt >= this.timeoutMs / 2;
    this.typing.set(key, { socketId, timer, announcedAt: reannounce ? now : current.announcedAt });
    if (reannounce) this.announce({ chatRoomId, userId, isTyping: true });
  }

  stop(userId: string, chatRoomId: string): void {
    const key = `${userId}\n${chatRoomId}`;
    const current = this.typing.get(key);
    if (!current) return;
    clearTimeout(current.timer);
    this.typing.delete(key);
    this.announce({ chatRoomId, userId, isTyping: false });
  }

  /** The socket went away: whatever it was typing stops. */
  socketGone(socketId: string): void {
    for (const [key, t] of this.typing) {
      if (t.socketId !== socketId) continue;
      const [userId, chatRoomId] = key.split('\n') as [string, string];
      this.stop(userId, chatRoomId);
    }
  }

  close(): void {
    for (const t of this.typing.values()) clearTimeout(t.timer);
    this.typing.clear();
  }
}

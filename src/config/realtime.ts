import type { EnvReader } from './readers.js';

export interface RealtimeConfig {
  /** A user whose last socket left is announced offline after this long (a quick reconnect announces nothing). */
  presenceGraceMs: number;
  /** A typing_start not renewed within this long ends with isTyping: false. */
  typingTimeoutMs: number;
  /** Largest Socket.IO message; a bigger one closes the connection. */
  maxPayloadBytes: number;
  /** How long a dropped socket's session (rooms, missed events) is kept for recovery. */
  recoveryWindowMs: number;
  /** Live sockets per user across instances; one more is refused with connect_error RATE_LIMITED. */
  maxSocketsPerUser: number;
  /** join_chat / leave_chat events per user per minute (each is a membership lookup). */
  joinsPerMinute: number;
}

export function realtimeConfig(read: EnvReader): RealtimeConfig {
  return {
    presenceGraceMs: read.int('PRESENCE_GRACE_MS', 5000, 0, 600_000),
    typingTimeoutMs: read.int('TYPING_TIMEOUT_MS', 5000, 100, 60_000),
    maxPayloadBytes: read.int('SOCKET_MAX_PAYLOAD_BYTES', 128 * 1024, 1024, 64 * 1024 * 1024),
    recoveryWindowMs: read.int('SOCKET_RECOVERY_WINDOW_MS', 120_000, 0, 3_600_000),
    maxSocketsPerUser: read.int('MAX_SOCKETS_PER_USER', 20, 1, 100_000),
    joinsPerMinute: read.int('RATE_LIMIT_JOINS_PER_MINUTE', 300, 1, 1_000_000),
  };
}

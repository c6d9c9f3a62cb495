/**
 * The baseline the fan-out and idle-socket numbers are divided by: a bare Socket.IO server on the same machine,
 * with no auth and no database. Each socket joins the channels its handshake names (the same `user:` and `room:`
 * channels the service joins it to); `send_message` becomes one `io.to(room).emit('new_message', message)` with a
 * message of the service's shape, and an ack. Run by the bench: PORT=… node --import tsx bench/baselines/bare-socketio.ts
 *
 * RECOVERY=1 is the reconnect storm's baseline: connection-state recovery on with the service's window, each socket
 * greeted by a kept packet (its first recovery offset, as the service's `ready`), and the accept queue the service asks
 * for, so the two differ only in what the service does per connection and per missed message.
 *
 * ACK=1 emits each `new_message` with an acknowledgement from every socket, as the contract has the service do (a
 * client's ack moves its delivery receipt): a frame back from every recipient, which the plain broadcast does not get.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { uuidv7 } from 'uuidv7';

const port = Number(process.env['PORT'] ?? 0);
const http = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end('{"status":"ok"}');
});
const recovery = process.env['RECOVERY'] === '1';
const acked = process.env['ACK'] === '1';
/** The service's wait for a delivery ack (fanout.ts). */
const ACK_TIMEOUT_MS = 60_000;
const io = new Server(http, {
  maxHttpBufferSize: 128 * 1024,
  ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: false } } : {}),
});
const chat = io.of('/chat');
const seqs = new Map<string, number>();

chat.on('connection', (socket) => {
  const rooms = (socket.handshake.auth as { rooms?: unknown }).rooms;
  if (Array.isArray(rooms)) socket.join(rooms.filter((r): r is string => typeof r === 'string'));
  if (recovery) chat.to(socket.id).emit('ready', {});
  socket.on(
    'send_message',
    (p: { chatRoomId: string; content: string; clientMessageId?: string; senderId?: string }, ack?: (r: unknown) => void) => {
      const seq = (seqs.get(p.chatRoomId) ?? 0) + 1;
      seqs.set(p.chatRoomId, seq);
      const message = {
        id: uuidv7(),
        chatRoomId: p.chatRoomId,
        seq,
        senderId: p.senderId ?? socket.id,
        type: 'text',
        content: p.content,
        mentions: [],
        replyToId: null,
        replyTo: null,
        media: [],
        clientMessageId: p.clientMessageId ?? null,
        createdAt: new Date().toISOString(),
        editedAt: null,
        deletedAt: null,
      };
      const room = chat.to(`room:${p.chatRoomId}`);
      if (acked) room.timeout(ACK_TIMEOUT_MS).emit('new_message', message, () => {});
      else room.emit('new_message', message);
      if (typeof ack === 'function') ack({ ok: true, data: message });
    },
  );
});

http.listen({ port, host: '127.0.0.1', ...(recovery ? { backlog: 65_535 } : {}) });
const stop = () => io.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

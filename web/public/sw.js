/* global self, URL */
/**
 * The chat app's service worker: Web Push only (no caching, no fetch handler, so it never stands between the app and
 * the network). A push carries the offline-notification JSON of the API contract:
 *   { event: "message.new", chatRoomId, senderName, preview, count, mentioned, messageIds, … }
 *   { event: "message.retracted", chatRoomId, messageIds }  (a notified message was deleted: withdraw it)
 * One notification per room (its tag), replaced by the next one for that room.
 */

const tagOf = (roomId) => `room:${roomId}`;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function payloadOf(event) {
  if (!event.data) return {};
  try {
    const data = event.data.json();
    return data && typeof data === 'object' ? data : {};
  } catch {
    return { preview: event.data.text() };
  }
}

const text = (value, fallback) => (typeof value === 'string' && value.trim() ? value : fallback);

async function show(data) {
  const roomId = typeof data.chatRoomId === 'string' ? data.chatRoomId : '';
  const count = Number.isInteger(data.count) && data.count > 1 ? data.count : 1;
  const sender = text(data.senderName, 'Someone');
  const title = count > 1 ? `${sender} (${count} new messages)` : data.mentioned ? `${sender} mentioned you` : sender;
  // Text only: a notification body is never markup.
  const body = text(data.preview, count > 1 ? `${count} new messages` : 'New message');
  await self.registration.showNotification(title, {
    body,
    tag: roomId ? tagOf(roomId) : undefined,
    renotify: Boolean(roomId),
    icon: '/icon.svg',
    badge: '/icon.svg',
    timestamp: Date.now(),
    data: { chatRoomId: roomId, messageIds: Array.isArray(data.messageIds) ? data.messageIds : [] },
  });
}

/** Closes the room's notification if it shows one of the deleted messages (or does not say which it shows). */
async function retract(data) {
  if (typeof data.chatRoomId !== 'string') return;
  const gone = new Set(Array.isArray(data.messageIds) ? data.messageIds : []);
  const shown = await self.registration.getNotifications({ tag: tagOf(data.chatRoomId) });
  for (const n of shown) {
    const ids = Array.isArray(n.data?.messageIds) ? n.data.messageIds : [];
    if (gone.size === 0 || ids.length === 0 || ids.some((id) => gone.has(id))) n.close();
  }
}

self.addEventListener('push', (event) => {
  const data = payloadOf(event);
  event.waitUntil(data.event === 'message.retracted' ? retract(data) : show(data));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const roomId = event.notification.data?.chatRoomId;
  const url = roomId ? `/#/r/${encodeURIComponent(roomId)}` : '/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const here = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (here) {
        // The open app moves to the room itself (no reload): see PushToggle.
        await here.focus();
        if (roomId) here.postMessage({ type: 'chat:open-room', chatRoomId: roomId });
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});

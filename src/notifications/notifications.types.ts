/**
 * The body of the webhook POST and of every Web Push message (the API contract, "Offline notifications"; README "Notifications"). Fixed when the
 * notification leaves, so a retry carries the same id and content.
 */
export interface NotificationPayload {
  id: string;
  event: 'message.new';
  userId: string;
  chatRoomId: string;
  roomType: string;
  senderId: string;
  senderName: string;
  count: number;
  mentioned: boolean;
  preview: string;
  unreadCount: number;
  messageIds: string[];
}

/**
 * Sent, over the same channels and signed the same way, to each user a message was notified to once that message is
 * deleted, so their apps can withdraw it. `id` is the retraction's own; Web Push carries it with the room's topic, as
 * the notification it withdraws.
 */
export interface RetractionPayload {
  id: string;
  event: 'message.retracted';
  userId: string;
  chatRoomId: string;
  roomType: string;
  messageIds: string[];
}

/** Whatever a delivery carries. */
export type DeliveryPayload = NotificationPayload | RetractionPayload;

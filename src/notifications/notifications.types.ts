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

import { Type } from '@sinclair/typebox';
import { SendMessageBody } from '../messages/messages.schemas.js';

const RoomId = Type.String({ minLength: 1, maxLength: 200 });

/** Socket payloads cross the same kind of schema as HTTP bodies; a bad one is acked VALIDATION_FAILED. */
export const SocketSchemas = {
  send_message: Type.Composite([
    Type.Object({
      chatRoomId: RoomId,
      mediaIds: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100, description: 'From POST /rooms/:id/media' }),
      ),
    }),
    SendMessageBody,
  ]),
  typing_start: Type.Object({ chatRoomId: RoomId }),
  typing_stop: Type.Object({ chatRoomId: RoomId }),
  mark_as_read: Type.Object({ chatRoomId: RoomId, messageId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
  join_chat: Type.Object({ chatRoomId: RoomId }),
  leave_chat: Type.Object({ chatRoomId: RoomId }),
};

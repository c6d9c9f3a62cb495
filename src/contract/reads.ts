import { Type, type Static } from '@sinclair/typebox';
import { IsoDate, Nullable } from './common.js';

export const ReadStateSchema = Type.Object(
  {
    chatRoomId: Type.String(),
    userId: Type.String(),
    messageId: Nullable(Type.String({ description: 'The message at lastReadSeq (null before any message was read)' })),
    lastReadSeq: Type.Integer(),
    readAt: Nullable(IsoDate),
  },
  { $id: 'ReadState' },
);
export type ReadState = Static<typeof ReadStateSchema>;
/** A ReadState by reference to its $id, typed as the read state itself. */
export const ReadStateRef = Type.Unsafe<ReadState>(Type.Ref('ReadState'));

export const ReceiptsSchema = Type.Object({
  data: Type.Array(Type.Object({ userId: Type.String(), deliveredAt: Nullable(IsoDate), readAt: Nullable(IsoDate) })),
});
export type Receipts = Static<typeof ReceiptsSchema>;

import { Type, type Static } from '@sinclair/typebox';
import { Nullable } from './common.js';

export const MEDIA_KINDS = ['image', 'video', 'audio', 'document'] as const;
export const MediaKindSchema = Type.Union(MEDIA_KINDS.map((t) => Type.Literal(t)));

export const PendingMediaSchema = Type.Object({
  id: Type.String({ description: 'Pass it in `mediaIds` of send_message within an hour' }),
  kind: MediaKindSchema,
  mimeType: Type.String({ description: 'Detected from the bytes, not taken from the client' }),
  size: Type.Integer({ description: 'Bytes as stored (images are re-encoded without their metadata)' }),
  fileName: Type.String({ description: 'Without path parts or control characters' }),
});
export type PendingMedia = Static<typeof PendingMediaSchema>;

export const UploadResponse = Type.Object({ data: Type.Array(PendingMediaSchema) });

/** A file of a message as clients see it (inside Message.media). */
export const MediaSchema = Type.Object({
  id: Type.String(),
  kind: MediaKindSchema,
  mimeType: Type.String(),
  size: Type.Integer(),
  fileName: Type.String(),
  url: Type.String({ description: 'Signed, expiring URL' }),
  thumbnailUrl: Nullable(Type.String()),
  width: Nullable(Type.Integer()),
  height: Nullable(Type.Integer()),
  durationMs: Nullable(Type.Integer()),
});
export type MediaView = Static<typeof MediaSchema>;

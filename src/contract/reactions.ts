import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IdParam, IsoDate, Nullable, PageLimit } from './common.js';

export const MAX_REACTION_KEYS_PER_MESSAGE = 50;

/** Checked by text/emoji.ts's isReactionKey in the service: a pattern cannot tell one grapheme from two. */
export const EmojiParam = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'URL-encoded: one emoji grapheme (ZWJ sequences, skin tones, flags) or a shortcode :name: of 1–32 [a-z0-9_+-]',
});

export const ReactionParams = Type.Object({ id: IdParam, emoji: EmojiParam });
export type ReactionParamsInput = Static<typeof ReactionParams>;

export const ReactionsQuery = Type.Object({
  emoji: Type.Optional(EmojiParam),
  limit: PageLimit,
  cursor: Type.Optional(Cursor),
});
export type ReactionsInput = Static<typeof ReactionsQuery>;

export const ReactionSchema = Type.Object({ emoji: Type.String(), userId: Type.String(), createdAt: IsoDate });
export type ReactionView = Static<typeof ReactionSchema>;

export const ReactionsPage = Type.Object({
  data: Type.Array(ReactionSchema, { description: 'Who reacted, first reactions first' }),
  nextCursor: Nullable(Type.String()),
});
export type ReactionsPageView = Static<typeof ReactionsPage>;

/**
 * Reaction keys: one emoji grapheme (ZWJ sequences, skin tones, flags and keycaps included) or a `:shortcode:` of 1–32
 * characters from [a-z0-9_+-]. Keys are kept exactly as sent: `❤` and `❤️` are two keys, as in Slack and Matrix.
 */
const SHORTCODE = /^:[a-z0-9_+-]{1,32}:$/;
/**
 * Every fully-qualified emoji and sequence Unicode recommends. It needs the `v` flag's sets of strings, which Node 20
 * has but our TypeScript target (ES2022) cannot spell as a literal.
 */
const RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');
/** A pictograph typed without its emoji variation selector (`❤`, `☺`), or with the text one. */
const BARE_PICTOGRAPH = /^\p{Extended_Pictographic}[\uFE0E\uFE0F]?$/u;
/** The longest recommended sequences (families with skin tones, subdivision flags) are under 40 UTF-16 units. */
const MAX_LENGTH = 64;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function isOneGrapheme(value: string): boolean {
  const it = graphemes.segment(value)[Symbol.iterator]();
  const first = it.next();
  return !first.done && first.value.segment === value;
}

export function isReactionKey(value: string): boolean {
  if (value.length === 0 || value.length > MAX_LENGTH) return false;
  if (SHORTCODE.test(value)) return true;
  return isOneGrapheme(value) && (RGI_EMOJI.test(value) || BARE_PICTOGRAPH.test(value));
}

/**
 * One tokenizer for documents and queries, so both sides agree on every lexeme. PostgreSQL's own parser is not used:
 * its idea of a word differs per script (CJK runs stay one token, combining marks split words), and the query side
 * would drift from the document side. Instead we build the tsvector literal here and cast it in SQL.
 *
 * - Text is NFKC-normalised and lower-cased; words are runs of letters, marks and digits.
 * - Scripts written without spaces (Han, Hiragana, Katakana) and Hangul become overlapping character bigrams, so any
 *   part of a sentence can be found ("東京タワー" → 東京 京タ タワ ワー). A lone character stays a unigram.
 *
 * It lives apart from both of its users (messages write documents, search reads queries) so neither imports the other.
 */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u30FC]+/u;
const CJK_SPLIT = /([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u30FC]+)/u;

/** PostgreSQL keeps positions up to 16383; tokens past it share the last position. */
const MAX_POSITION = 16383;
/** Longer tokens are not useful for search and would bloat the index (PostgreSQL's own limit is 2 KiB). */
const MAX_TOKEN_CHARS = 100;

export const isCjk = (s: string): boolean => CJK.test(s);

/** Lexemes of a text in order; adjacent lexemes of one phrase sit at adjacent positions. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const word of text.normalize('NFKC').toLowerCase().match(WORD) ?? []) {
    for (const part of word.split(CJK_SPLIT)) {
      if (part === '') continue;
      if (CJK.test(part)) {
        const chars = [...part];
        if (chars.length === 1) out.push(part);
        for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
      } else {
        out.push([...part].slice(0, MAX_TOKEN_CHARS).join(''));
      }
    }
  }
  return out;
}

/** The tsvector literal of a message's content, cast with `::tsvector` when stored. */
export function documentVector(text: string): string {
  const positions = new Map<string, number[]>();
  tokenize(text).forEach((token, i) => {
    const pos = Math.min(i + 1, MAX_POSITION);
    const list = positions.get(token);
    if (!list) positions.set(token, [pos]);
    else if (list[list.length - 1] !== pos) list.push(pos);
  });
  const parts: string[] = [];
  for (const [token, pos] of positions) parts.push(`${quoteLexeme(token)}:${pos.join(',')}`);
  return parts.join(' ');
}

/** Lexemes hold only letters, marks and digits, but quoting keeps the literal safe whatever the tokenizer becomes. */
export const quoteLexeme = (token: string): string => `'${token.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

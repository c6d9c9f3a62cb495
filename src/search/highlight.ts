/**
 * Highlights are computed here from the content rather than by ts_headline: ts_headline emits markup, counts in its
 * own units, and uses PostgreSQL's parser, which disagrees with our tokenizer. The snippet is plain text and ranges
 * are code-point offsets [start, end) into the snippet as returned.
 */
import type { Term } from './query.js';

export interface Highlight {
  snippet: string;
  ranges: Array<[number, number]>;
}

/** Snippets of longer content are a window of this many code points (plus an ellipsis at each cut end). */
export const SNIPPET_CODE_POINTS = 200;
/** How much text before the first match a window keeps, so the match is read in context. */
const LEAD_CODE_POINTS = 40;
const ELLIPSIS = '\u2026';

const WORD_CHAR = /[\p{L}\p{M}\p{N}]/u;
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u30FC]/u;
const MARK = /\p{M}/u;

interface Folded {
  /** Folded code points. */
  chars: string[];
  /** For each folded code point, the [start, end) code points of the original text it came from. */
  origin: Array<[number, number]>;
}

/**
 * Case- and compatibility-folds text as the tokenizer does (NFKC + lower case), cluster by cluster (a base character
 * and its combining marks), remembering where each folded code point came from so matches map back to the original.
 */
function fold(text: string): Folded {
  const src = [...text];
  const chars: string[] = [];
  const origin: Array<[number, number]> = [];
  let i = 0;
  while (i < src.length) {
    let j = i + 1;
    while (j < src.length && MARK.test(src[j]!)) j++;
    // Final sigma lower-cases by context; folding it to σ lets ς and σ meet whatever their position.
    const folded = [...src.slice(i, j).join('').normalize('NFKC').toLowerCase().replace(/ς/g, 'σ')];
    for (const c of folded) {
      chars.push(c);
      origin.push([i, j]);
    }
    i = j;
  }
  return { chars, origin };
}

interface Needle {
  chars: string[];
  /** Must start where a word starts (not inside a run of letters of the same kind). */
  wordStart: boolean;
  /** Must end where a word ends. */
  wordEnd: boolean;
}

function needlesOf(terms: Term[]): Needle[] {
  const out: Needle[] = [];
  for (const term of terms) {
    if (term.infix !== null) out.push({ chars: fold(term.infix).chars, wordStart: false, wordEnd: false });
    for (const t of term.tokens) {
      // CJK bigrams match anywhere, as in the index; other tokens are whole words, or word starts for prefixes.
      out.push({ chars: fold(t.lexeme).chars, wordStart: !t.cjk, wordEnd: !t.cjk && !t.prefix });
    }
  }
  return out.filter((n) => n.chars.length > 0);
}

/** Is there a word boundary between code points a and b (either may be absent)? */
function boundary(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  if (!WORD_CHAR.test(a) || !WORD_CHAR.test(b)) return true;
  // The tokenizer cuts between CJK and other letters ("abc東京" → abc, 東京), so that is a word boundary too.
  return CJK_CHAR.test(a) !== CJK_CHAR.test(b);
}

function findAll(hay: string[], needle: Needle): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  const n = needle.chars;
  outer: for (let i = 0; i + n.length <= hay.length; i++) {
    for (let k = 0; k < n.length; k++) if (hay[i + k] !== n[k]) continue outer;
    if (needle.wordStart && !boundary(hay[i - 1], hay[i])) continue;
    if (needle.wordEnd && !boundary(hay[i + n.length - 1], hay[i + n.length])) continue;
    found.push([i, i + n.length]);
  }
  return found;
}

/** Sorted, with overlapping ranges merged (overlapping CJK bigrams become one range). */
function merge(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] < last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** The code-point ranges of the original content matched by the positive terms. */
export function matchRanges(content: string, terms: Term[]): Array<[number, number]> {
  const hay = fold(content);
  const ranges: Array<[number, number]> = [];
  for (const needle of needlesOf(terms)) {
    for (const [s, e] of findAll(hay.chars, needle)) ranges.push([hay.origin[s]![0], hay.origin[e - 1]![1]]);
  }
  return merge(ranges);
}

/** Where a window of `size` code points around the first match starts, preferring to start at a word. */
function windowStart(chars: string[], firstMatch: number, size: number): number {
  if (chars.length <= size) return 0;
  let start = Math.max(0, firstMatch - LEAD_CODE_POINTS);
  start = Math.min(start, chars.length - size);
  if (start > 0) {
    // Skip a word cut in half, if a space follows soon enough (CJK text has none; it is cut anywhere).
    for (let k = start; k < Math.min(firstMatch, start + 15); k++) {
      if (/\s/u.test(chars[k]!)) return k + 1;
    }
  }
  return start;
}

export function highlight(content: string, terms: Term[]): Highlight {
  const chars = [...content];
  const ranges = matchRanges(content, terms);
  if (chars.length <= SNIPPET_CODE_POINTS) return { snippet: content, ranges };

  const start = windowStart(chars, ranges[0]?.[0] ?? 0, SNIPPET_CODE_POINTS);
  const end = Math.min(chars.length, start + SNIPPET_CODE_POINTS);
  const lead = start > 0 ? ELLIPSIS : '';
  const trail = end < chars.length ? ELLIPSIS : '';
  const shift = lead.length - start;
  const inside = ranges
    .filter(([s, e]) => s < end && e > start)
    .map(([s, e]): [number, number] => [Math.max(s, start) + shift, Math.min(e, end) + shift]);
  return { snippet: lead + chars.slice(start, end).join('') + trail, ranges: inside };
}

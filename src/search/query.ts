/**
 * The search query language: words, "quoted phrases", -exclusions and -"excluded phrases". Each term goes through the
 * same tokenizer as the documents and becomes a tsquery literal built here (PostgreSQL's to_tsquery would split words
 * differently from our tokenizer, so the two sides would disagree).
 */
import { isCjk, quoteLexeme, tokenize } from '../text/tokenize.js';

export interface QueryToken {
  lexeme: string;
  /** Matches any lexeme starting with this one (`:*`). */
  prefix: boolean;
  cjk: boolean;
}

export interface Term {
  /** The term as typed (NFKC-normalised), without quotes or the leading minus. */
  text: string;
  quoted: boolean;
  negated: boolean;
  tokens: QueryToken[];
  /** Text to look for anywhere in the content (ILIKE, served by the trigram index), when the tokens alone fall short. */
  infix: string | null;
}

export interface ParsedQuery {
  positive: Term[];
  negative: Term[];
}

/** A condition on one message: `search_doc @@ tsquery`, or'ed with `content ILIKE like` when like is set. */
export interface MatchCondition {
  tsquery: string;
  like: string | null;
}

export interface CompiledQuery {
  /** All must hold. */
  must: MatchCondition[];
  /** None may hold. */
  mustNot: MatchCondition[];
}

/**
 * Beyond this many terms a query is more likely abuse than a search; each term is one more index probe. Measured on
 * 18k messages (PGlite): 16 one- and two-letter prefix words cost ~25 ms, 32 three-letter partial words ~280 ms.
 */
export const MAX_TERMS = 16;
/**
 * Terms with an infix (an ILIKE each, the costly kind: every common trigram probes the trigram index for a large
 * share of the table, or the planner falls back to scanning it): up to 4 measured ≤ ~45 ms on 18k messages, 8 up to
 * ~140 ms and 32 ~280 ms.
 */
export const MAX_INFIX_TERMS = 4;
/** Shorter positive words match by token only: a 1–2 character ILIKE has no trigram to use the index with. */
export const MIN_INFIX_CODE_POINTS = 3;

const SPACE = /\s/u;
const QUOTES = new Set(['"', '\u201C', '\u201D', '\u201E', '\u00AB', '\u00BB', '\u300C', '\u300D']);
const codePoints = (s: string): number => [...s].length;

/** Splits q into terms; terms that hold no letter or digit (punctuation, emoji) are dropped. */
export function parseQuery(q: string): ParsedQuery {
  // NFKC first, so full-width quotes and minus signs typed by CJK input methods work like ASCII ones.
  const s = [...q.normalize('NFKC')];
  const positive: Term[] = [];
  const negative: Term[] = [];
  let i = 0;
  while (i < s.length) {
    if (SPACE.test(s[i]!)) {
      i++;
      continue;
    }
    let negated = false;
    if (s[i] === '-' && i + 1 < s.length && !SPACE.test(s[i + 1]!)) {
      negated = true;
      i++;
    }
    let text: string;
    let quoted = false;
    if (QUOTES.has(s[i]!)) {
      quoted = true;
      let j = i + 1;
      while (j < s.length && !QUOTES.has(s[j]!)) j++;
      // An unclosed quote runs to the end of the query.
      text = s.slice(i + 1, j).join('');
      i = j + 1;
    } else {
      let j = i;
      while (j < s.length && !SPACE.test(s[j]!) && !QUOTES.has(s[j]!)) j++;
      text = s.slice(i, j).join('');
      i = j;
    }
    const term = makeTerm(text.trim(), quoted, negated);
    if (term) (negated ? negative : positive).push(term);
  }
  capInfix([...positive, ...negative]);
  return { positive, negative };
}

/**
 * A sentence typed into the box must still search: past MAX_INFIX_TERMS, further plain words match as whole words or
 * word beginnings only (the index serves those cheaply) instead of anywhere inside a word. Single CJK characters keep
 * theirs (without it they would not match inside text at all), so only they can exceed the cap (refused by the service).
 */
function capInfix(terms: Term[]): void {
  const needed = (term: Term) => term.tokens.some((t) => t.cjk && codePoints(t.lexeme) === 1);
  let budget = MAX_INFIX_TERMS - terms.filter((t) => t.infix !== null && needed(t)).length;
  for (const term of terms) {
    if (term.infix === null || needed(term)) continue;
    if (budget > 0) budget--;
    else term.infix = null;
  }
}

function makeTerm(text: string, quoted: boolean, negated: boolean): Term | null {
  const lexemes = tokenize(text);
  if (lexemes.length === 0) return null;
  const tokens = lexemes.map((lexeme, i): QueryToken => {
    const cjk = isCjk(lexeme);
    // A lone CJK character is a unigram in the query but sits inside bigrams in documents: prefix finds it at the
    // start of a bigram, the ILIKE below anywhere else. The last token of a typed (unquoted, wanted) word is a prefix.
    const cjkUnigram = cjk && codePoints(lexeme) === 1;
    const prefix = cjkUnigram || (!quoted && !negated && i === lexemes.length - 1);
    return { lexeme, prefix, cjk };
  });
  const hasUnigram = tokens.some((t) => t.cjk && codePoints(t.lexeme) === 1);
  // Bigrams already find any part of CJK text, so only terms with other scripts need the infix fallback, and quoted
  // phrases and exclusions mean whole words.
  const wantsInfix = !quoted && !negated && tokens.some((t) => !t.cjk) && codePoints(text) >= MIN_INFIX_CODE_POINTS;
  return { text, quoted, negated, tokens, infix: wantsInfix || hasUnigram ? text : null };
}

/** How many terms, wanted or excluded, carry an infix (an ILIKE). */
export const infixTerms = (parsed: ParsedQuery): number =>
  parsed.positive.filter((t) => t.infix !== null).length + parsed.negative.filter((t) => t.infix !== null).length;

/** The tsquery literal of one term: its tokens as a phrase (`<->`), prefixes marked `:*`. */
export function termTsquery(term: Term): string {
  return term.tokens.map((t) => `${quoteLexeme(t.lexeme)}${t.prefix ? ':*' : ''}`).join(' <-> ');
}

/** A LIKE pattern matching `text` anywhere; `\` is PostgreSQL's default LIKE escape. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Conditions for SQL. Positive terms that need no ILIKE are folded into one tsquery (one GIN probe); the rest stay
 * separate because each ORs its own ILIKE.
 */
export function compileQuery(parsed: ParsedQuery): CompiledQuery {
  const must: MatchCondition[] = [];
  const plain: string[] = [];
  for (const term of parsed.positive) {
    if (term.infix === null) plain.push(termTsquery(term));
    else must.push({ tsquery: termTsquery(term), like: containsPattern(term.infix) });
  }
  if (plain.length > 0) must.unshift({ tsquery: plain.map((p) => `( ${p} )`).join(' & '), like: null });
  const mustNot = parsed.negative.map((term) => ({
    tsquery: termTsquery(term),
    like: term.infix === null ? null : containsPattern(term.infix),
  }));
  return { must, mustNot };
}

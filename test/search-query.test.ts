import { describe, expect, it } from 'vitest';
import { highlight, matchRanges } from '../src/search/highlight.js';
import { compileQuery, containsPattern, parseQuery, termTsquery } from '../src/search/query.js';
import { parseBound } from '../src/search/search.service.js';
import { documentVector, tokenize } from '../src/text/tokenize.js';

const summary = (q: string) => {
  const p = parseQuery(q);
  const show = (t: (typeof p.positive)[number]) => ({ text: t.text, quoted: t.quoted, ts: termTsquery(t), infix: t.infix });
  return { positive: p.positive.map(show), negative: p.negative.map(show) };
};

const pos = (q: string) => parseQuery(q).positive;

/** The text of each range, to read assertions as words rather than offsets. */
const texts = (h: { snippet: string; ranges: Array<[number, number]> }) => h.ranges.map(([s, e]) => [...h.snippet].slice(s, e).join(''));

describe('parseQuery', () => {
  it('splits words, quoted phrases and exclusions', () => {
    expect(summary('deplo "quick fox" -lazy -"red dog"')).toEqual({
      positive: [
        { text: 'deplo', quoted: false, ts: "'deplo':*", infix: 'deplo' },
        { text: 'quick fox', quoted: true, ts: "'quick' <-> 'fox'", infix: null },
      ],
      negative: [
        { text: 'lazy', quoted: false, ts: "'lazy'", infix: null },
        { text: 'red dog', quoted: true, ts: "'red' <-> 'dog'", infix: null },
      ],
    });
  });

  it('makes a word of several tokens a phrase whose last token is a prefix', () => {
    expect(summary('Hello-World').positive[0]).toMatchObject({ ts: "'hello' <-> 'world':*", infix: 'Hello-World' });
  });

  it('drops terms without letters or digits, and a minus not attached to a term', () => {
    expect(summary('🙂 ?! - ... "" -')).toEqual({ positive: [], negative: [] });
    expect(summary('a - b').positive.map((t) => t.text)).toEqual(['a', 'b']);
  });

  it('keeps short words off the infix fallback so the index can serve them', () => {
    expect(summary('go').positive[0]!.infix).toBeNull();
    expect(summary('ployment').positive[0]!.infix).toBe('ployment');
  });

  it('turns CJK into bigram phrases, with prefix and infix for a single character', () => {
    expect(summary('東京タワー').positive[0]).toMatchObject({ ts: "'東京' <-> '京タ' <-> 'タワ' <-> 'ワー':*", infix: null });
    expect(summary('北京').positive[0]).toMatchObject({ ts: "'北京':*", infix: null });
    expect(summary('京').positive[0]).toMatchObject({ ts: "'京':*", infix: '京' });
    expect(summary('-京').negative[0]).toMatchObject({ ts: "'京':*", infix: '京' });
  });

  it('accepts full-width and typographic quotes and an unclosed quote', () => {
    expect(summary('＂quick fox＂').positive[0]).toMatchObject({ quoted: true, ts: "'quick' <-> 'fox'" });
    expect(summary('“quick fox”').positive[0]).toMatchObject({ quoted: true, ts: "'quick' <-> 'fox'" });
    expect(summary('"quick fox').positive[0]).toMatchObject({ quoted: true, ts: "'quick' <-> 'fox'" });
  });

  it('agrees with the document tokenizer on case and compatibility forms', () => {
    expect(tokenize('ＣＡＦＥ\u0301 ﬁle')).toEqual(['café', 'file']);
    expect(summary('CAFÉ').positive[0]!.ts).toBe("'café':*");
    expect(documentVector('Café café')).toBe("'café':1,2");
  });
});

describe('compileQuery', () => {
  it('folds plain tsquery terms into one condition and keeps infix terms apart', () => {
    const c = compileQuery(parseQuery('go "quick fox" ployment -lazy'));
    expect(c.must).toEqual([
      { tsquery: "( 'go':* ) & ( 'quick' <-> 'fox' )", like: null },
      { tsquery: "'ployment':*", like: '%ployment%' },
    ]);
    expect(c.mustNot).toEqual([{ tsquery: "'lazy'", like: null }]);
  });

  it('escapes LIKE wildcards', () => {
    expect(containsPattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
  });
});

describe('highlight', () => {
  it('marks words, prefixes and infixes by code point', () => {
    const h = highlight('Deployment of the quick fox 🦊 is done', pos('deplo fox'));
    expect(h.snippet).toBe('Deployment of the quick fox 🦊 is done');
    expect(h.ranges).toEqual([
      [0, 5],
      [24, 27],
    ]);
    expect(texts(highlight('redeployment', pos('ployment')))).toEqual(['ployment']);
  });

  it('does not mark a quoted word inside a longer word', () => {
    expect(texts(highlight('foxes and a fox', pos('"fox"')))).toEqual(['fox']);
  });

  it('merges overlapping CJK bigrams into one range', () => {
    const h = highlight('東京タワーに行きました', pos('東京タワー 行きました'));
    expect(h.ranges).toEqual([
      [0, 5],
      [6, 11],
    ]);
    expect(texts(highlight('我们明天去北京开会', pos('北京')))).toEqual(['北京']);
  });

  it('maps folded text back to the original code points', () => {
    // Decomposed é (2 code points) and a full-width word; an emoji before them shifts code points, not UTF-16 units.
    const content = '🙂 cafe\u0301 ＨＥＬＬＯ';
    expect(matchRanges(content, pos('CAFÉ hello'))).toEqual([
      [2, 7],
      [8, 13],
    ]);
  });

  it('cuts long content to a window around the first match, ranges indexing the snippet', () => {
    const content = `${'lorem ipsum dolor '.repeat(30)}the needle is here ${'sit amet '.repeat(30)}`;
    const h = highlight(content, pos('needle'));
    expect([...h.snippet].length).toBeLessThanOrEqual(202);
    expect(h.snippet.startsWith('…')).toBe(true);
    expect(h.snippet.endsWith('…')).toBe(true);
    expect(texts(h)).toEqual(['needle']);
  });

  it('falls back to the start of the content when nothing can be marked', () => {
    const h = highlight('x'.repeat(500), pos('zzz'));
    expect(h).toEqual({ snippet: `${'x'.repeat(200)}…`, ranges: [] });
  });
});

describe('parseBound', () => {
  it('reads dates as whole UTC days and date-times with their offset', () => {
    expect(parseBound('2024-03-01', 'from')?.toISOString()).toBe('2024-03-01T00:00:00.000Z');
    expect(parseBound('2024-03-01', 'to')?.toISOString()).toBe('2024-03-02T00:00:00.000Z');
    expect(parseBound('2024-03-01T10:20:30.5+02:00', 'to')?.toISOString()).toBe('2024-03-01T08:20:30.500Z');
    expect(parseBound('2024-02-30', 'from')).toBeUndefined();
    expect(parseBound('yesterday', 'from')).toBeUndefined();
  });
});

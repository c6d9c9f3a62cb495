import { describe, expect, it } from 'vitest';
import { isReactionKey } from '../src/text/emoji.js';

describe('isReactionKey', () => {
  it.each([
    ['👍', 'a plain emoji'],
    ['❤', 'a bare pictograph (text presentation)'],
    ['❤️', 'the same with VS16: another key'],
    ['👍🏽', 'a skin tone'],
    ['👨‍👩‍👧‍👦', 'a ZWJ family'],
    ['🧑🏽‍💻', 'a ZWJ sequence with a skin tone'],
    ['🇫🇷', 'a flag'],
    ['🏴󠁧󠁢󠁳󠁣󠁴󠁿', 'a subdivision flag'],
    ['1️⃣', 'a keycap'],
    [':thumbsup:', 'a shortcode'],
    [':+1:', 'a shortcode with +'],
    [':a-b_c:', 'a shortcode with - and _'],
    [`:${'a'.repeat(32)}:`, 'a 32-character shortcode'],
  ])('accepts %s (%s)', (key) => expect(isReactionKey(key)).toBe(true));

  it.each([
    ['', 'empty'],
    ['a', 'a letter'],
    ['1', 'a digit'],
    ['👍👍', 'two emoji'],
    ['👍 ', 'an emoji and a space'],
    ['🇫', 'half a flag'],
    ['::', 'an empty shortcode'],
    [':Thumbs:', 'capitals in a shortcode'],
    [`:${'a'.repeat(33)}:`, 'a 33-character shortcode'],
    [':a b:', 'a space in a shortcode'],
    ['thumbsup', 'a bare word'],
    ['\u0000', 'NUL'],
    ['\u200D', 'a lone ZWJ'],
    ['\uD83D', 'a lone surrogate'],
    ['<script>', 'markup'],
  ])('refuses %j (%s)', (key) => expect(isReactionKey(key)).toBe(false));
});

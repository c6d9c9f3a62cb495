import { documentVector } from '../../src/text/tokenize.js';
import { rng } from './rng.js';

/**
 * Message texts for the seeded history, made once from a fixed seed: chat-like English with a Zipf word frequency,
 * and Chinese and Japanese lines. Each row of the 1M takes one of these and appends its own number, so the terms the
 * search scenario looks for occur at known rates:
 *   rare     "zanzibar"          only in the last pool slot, which 1 row in 20011 takes (~50 rows in 1M)
 *   common   "today"             ~22% of rows
 *   phrase   "quarterly report"  ~1% of rows (either word alone in ~3% more)
 *   partial  "ndersta"           inside understand / understanding / misunderstanding, ~3% of rows
 *   CJK      "东京"              ~2% of rows (inside Chinese sentences, found through character bigrams)
 */
export const POOL_SIZE = 4096;
export const RARE_SLOT = POOL_SIZE - 1;
/** SQL picking a pool slot for the global message number g (the same mapping in every run). */
export const slotSql = (g: string) => `case when ${g} % 20011 = 7 then ${RARE_SLOT} else ((${g} * 2654435761) % ${RARE_SLOT})::int end`;

export const SEARCH_TERMS = {
  rare: 'zanzibar',
  common: 'today',
  phrase: '"quarterly report"',
  partial: 'ndersta',
  cjk: '东京',
} as const;

export interface PoolText {
  content: string;
  /** tsvector literal from the service's own tokenizer (text/tokenize.ts). */
  doc: string;
}

const WORDS = (
  'the to and a i you it of is that for in we on this be have are not with can do will so at just but if me ' +
  'what all get ok yes no my your was here there they up about now one out like know think see go need time ' +
  'thanks please sure call meeting tomorrow morning afternoon send file team project update check let us back ' +
  'soon later done working deploy release fix bug issue ticket review merge branch build test server client ' +
  'customer order payment invoice account login password email phone number address delivery shipping price ' +
  'plan budget design draft slides notes agenda lunch coffee office home remote weekend friday monday week ' +
  'month year great good nice cool awesome sorry problem question answer idea team sync standup demo launch ' +
  'feature roadmap priority deadline estimate status blocked waiting ready started finished approved rejected ' +
  'data report dashboard metrics numbers chart sales marketing support product engineering design legal hr ' +
  'contract signed pending schedule calendar invite room link zoom slack doc sheet folder drive upload download ' +
  'version mobile web android ios browser cache cookie session token error crash slow fast latency memory cpu'
).split(' ');

const ZH = [
  '我们',
  '明天',
  '下午',
  '开会',
  '讨论',
  '项目',
  '北京',
  '上海',
  '客户',
  '报告',
  '问题',
  '已经',
  '完成',
  '需要',
  '确认',
  '时间',
  '地点',
  '谢谢',
  '好的',
  '没问题',
];
const JA = [
  '明日',
  '会議',
  '資料',
  '確認',
  'お願いします',
  'ありがとう',
  'よろしく',
  'プロジェクト',
  'タワー',
  '今日',
  '東京',
  '大阪',
  '了解です',
];

function zipfPicker(n: number, s: number, rand: () => number): () => number {
  const cum: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) cum.push((total += 1 / Math.pow(i + 1, s)));
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export function makePool(): PoolText[] {
  const rand = rng(20241125);
  const word = zipfPicker(WORDS.length, 1.0, rand);
  const out: PoolText[] = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    let content: string;
    const kind = rand();
    if (i === RARE_SLOT) {
      content = 'booked the flights to zanzibar for the offsite, details in the doc';
    } else if (kind < 0.07) {
      const n = 3 + Math.floor(rand() * 5);
      const parts = Array.from({ length: n }, () => ZH[Math.floor(rand() * ZH.length)]!);
      if (rand() < 0.3) parts.splice(Math.floor(rand() * n), 0, '东京');
      content = parts.join('') + (rand() < 0.5 ? '。' : '');
    } else if (kind < 0.12) {
      const n = 3 + Math.floor(rand() * 4);
      content = Array.from({ length: n }, () => JA[Math.floor(rand() * JA.length)]!).join(rand() < 0.5 ? '' : '、');
    } else {
      const n = rand() < 0.05 ? 30 + Math.floor(rand() * 30) : 5 + Math.floor(rand() * 10);
      const words = Array.from({ length: n }, () => WORDS[word()]!);
      const at = () => Math.floor(rand() * (words.length + 1));
      if (rand() < 0.25) words.splice(at(), 0, 'today');
      const r = rand();
      if (r < 0.011) words.splice(at(), 0, 'quarterly', 'report');
      else if (r < 0.025) words.splice(at(), 0, 'quarterly');
      else if (r < 0.045) words.splice(at(), 0, 'report');
      const u = rand();
      if (u < 0.015) words.splice(at(), 0, 'understand');
      else if (u < 0.025) words.splice(at(), 0, 'understanding');
      else if (u < 0.034) words.splice(at(), 0, 'misunderstanding');
      content = words.join(' ');
      content = content[0]!.toUpperCase() + content.slice(1) + (rand() < 0.4 ? '.' : rand() < 0.5 ? '?' : '');
    }
    out.push({ content, doc: documentVector(content) });
  }
  return out;
}

import { uuidv7 } from 'uuidv7';
import { log, sleep } from '../lib/log.js';
import { httpJson, type ServerProcess } from '../lib/processes.js';
import type { Row } from '../lib/report.js';
import type { Manifest, RoomPlan } from '../lib/seed.js';
import { SteadyLoad, type PhaseResult } from '../lib/steady.js';

export interface EraseSizes {
  /** Messages the erased user sent (seeded), spread evenly over `rooms` rooms they share with one other user each. */
  messages: number;
  rooms: number;
  /** The send load from other users while the erase runs: messages/s over the rooms of 10. */
  rate: number;
  /** The load runs this long before the erase starts (the "before" p99), and this long after it ends. */
  beforeMs: number;
  afterMs: number;
  /** The erase is given this long at most; the load stops then whatever the job's state. */
  timeoutMs: number;
}

export interface ErasePlan {
  sizes: EraseSizes;
  user: string;
  rooms: RoomPlan[];
}

export interface EraseResult {
  messages: number;
  rate: number;
  /** DELETE answered → the first poll that saw the job done (polled every 100 ms); null: not done in time. */
  doneMs: number | null;
  /** The job's own createdAt → finishedAt (server clock). */
  jobMs: number | null;
  status: string;
  progress: Record<string, number>;
  error?: string;
  /** GET /admin/jobs/:id while the job ran: polls that failed (30 s timeout), and the longest gap between two answers. */
  polls: { failed: number; slowestGapMs: number; firstError?: string };
  before: PhaseResult;
  during: PhaseResult;
  after?: PhaseResult | undefined;
}

/**
 * The user to erase: rooms of two where they sent every other message (seq even: members[0]), so their `messages`
 * messages sit among as many of the other member's, over `rooms` rooms.
 */
export function planErase(m: Manifest, s: EraseSizes): ErasePlan {
  const user = 'erase-me';
  const perRoom = Math.ceil(s.messages / s.rooms);
  const rooms = Array.from({ length: s.rooms }, (_, r): RoomPlan => ({
    id: uuidv7(),
    type: 'group',
    members: [user, `erase-peer-${r}`],
    n: perRoom * 2,
  }));
  m.all.push(...rooms);
  return { sizes: { ...s, messages: perRoom * s.rooms }, user, rooms };
}

/**
 * Erase under load (issue 15): a steady open-loop send load from other users in the rooms of 10; after `beforeMs`,
 * `DELETE /admin/users/:userId` of the seeded user, `GET /admin/jobs/:id` every 100 ms until the job is done; the
 * sends are split into before / during / after by their due time.
 */
export async function eraseUnderLoad(
  server: ServerProcess,
  ctx: { token: (userId: string) => Promise<string>; adminToken: string; loadRooms: RoomPlan[]; settle: () => Promise<void> },
  plan: ErasePlan,
): Promise<EraseResult> {
  const api = `${server.url}/api/v1/chat`;
  const s = plan.sizes;
  // The service knows a user once a token of theirs reached it: one request as them makes the profile row.
  const me = await httpJson('GET', `${api}/rooms?limit=1`, await ctx.token(plan.user));
  if (me.status !== 200) throw new Error(`GET /rooms as the user to erase answered ${me.status}`);
  const load = new SteadyLoad(server.url, async (u) => ({ token: await ctx.token(u) }), ctx.loadRooms);
  try {
    await load.connect();
    await ctx.settle();
    load.phase('warm');
    await load.run(s.rate, 500, 1000, 'erwarm');
    load.phase('before');
    let job: { status: string; progress: Record<string, number>; createdAt: string; finishedAt: string | null; error?: string } | undefined;
    let doneMs: number | null = null;
    const polls = { failed: 0, firstError: undefined as string | undefined, slowestMs: 0, lastAt: 0 };
    const running = load.run(s.rate, s.beforeMs + s.timeoutMs + s.afterMs, 2000, 'er');
    const driver = (async () => {
      await sleep(s.beforeMs);
      load.phase('during');
      const t0 = performance.now();
      const started = await httpJson('DELETE', `${api}/admin/users/${encodeURIComponent(plan.user)}`, ctx.adminToken);
      if (started.status !== 202)
        throw new Error(`DELETE /admin/users/:userId answered ${started.status}: ${JSON.stringify(started.body)}`);
      const jobId = (started.body as { jobId: string }).jobId;
      while (performance.now() - t0 < s.timeoutMs) {
        await sleep(100);
        // A poll stuck behind the erase (PGlite has one connection) is a finding, not the end: the job is still followed.
        const got = await httpJson('GET', `${api}/admin/jobs/${jobId}`, ctx.adminToken).catch((err: Error) => {
          polls.failed++;
          polls.firstError ??= err.message;
          return undefined;
        });
        if (!got) continue;
        polls.slowestMs = Math.max(polls.slowestMs, performance.now() - t0 - polls.lastAt);
        polls.lastAt = performance.now() - t0;
        if (got.status !== 200) throw new Error(`GET /admin/jobs/:id answered ${got.status}`);
        job = got.body as typeof job;
        if (job!.status === 'done' || job!.status === 'failed') {
          doneMs = performance.now() - t0;
          break;
        }
      }
      load.phase('after');
      await sleep(s.afterMs);
    })();
    try {
      await driver;
    } finally {
      load.stop();
      await running;
    }
    const jobMs = job?.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.createdAt) : null;
    const r: EraseResult = {
      messages: s.messages,
      rate: s.rate,
      doneMs,
      jobMs,
      status: job?.status ?? 'unknown',
      progress: job?.progress ?? {},
      ...(job?.error ? { error: job.error } : {}),
      polls: {
        failed: polls.failed,
        slowestGapMs: Math.round(polls.slowestMs),
        ...(polls.firstError ? { firstError: polls.firstError } : {}),
      },
      before: load.result('before')!,
      during: load.result('during')!,
      after: load.result('after'),
    };
    log(
      `    erase of ${s.messages.toLocaleString('en')} messages: ${r.status} in ${doneMs === null ? 'more than the time limit' : `${(doneMs / 1000).toFixed(1)} s`} ` +
        `(${JSON.stringify(r.progress)}); sends at ${s.rate}/s p50 / p99 before ${r.before.all.p50.toFixed(1)} / ${r.before.all.p99.toFixed(1)} ms, ` +
        `during ${r.during.all.p50.toFixed(1)} / ${r.during.all.p99.toFixed(1)} ms (${r.during.sent} sends, ${r.during.errors} errors, ${r.during.lost} lost)`,
    );
    return r;
  } finally {
    await load.close();
  }
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : '–');
const pp = (p: PhaseResult | undefined) => (p && p.all.count ? `${ms(p.all.p50)} / ${ms(p.all.p99)} ms` : '–');

/** The issue-7 latency target of the fan-out rows (send → every recipient at half the maximum), which sends keep during an erase. */
export const SEND_P99_TARGET_MS = 20;

export function eraseRows(r: EraseResult): Array<Omit<Row, 'engine'>> {
  const msgs = r.messages >= 1000 ? `${Math.round(r.messages / 1000)}k` : String(r.messages);
  const done = r.status === 'done' && r.progress['messages'] === r.messages;
  const name = `erase a user with ${msgs} messages (DELETE /admin/users/:userId) under ${r.rate} sends/s in rooms of 10`;
  const clean = (p: PhaseResult | undefined) => !!p && p.errors === 0 && p.lost === 0;
  return [
    {
      scenario: name,
      metric:
        `job DELETE → done (GET /admin/jobs/:id every 100 ms; longest wait for an answer ${(r.polls.slowestGapMs / 1000).toFixed(1)} s` +
        `${r.polls.failed ? `, ${r.polls.failed} timed out` : ''}); ${r.progress['messages'] ?? 0} tombstones, ${r.progress['rooms'] ?? 0} rooms left`,
      service: r.doneMs === null ? `not done (${r.status})` : `${(r.doneMs / 1000).toFixed(1)} s (${r.status})`,
      baseline: '—',
      ratio: '',
      target: '',
      met: null,
    },
    {
      scenario: name,
      metric: `send → every recipient p50 / p99 during the erase (${r.during.sent} sends, ${r.during.errors} errors, ${r.during.lost} lost)`,
      service: pp(r.during),
      baseline: `${pp(r.before)} before it`,
      ratio: Number.isFinite(r.during.all.p99 / r.before.all.p99) ? `${(r.during.all.p99 / r.before.all.p99).toFixed(2)}× (p99)` : '–',
      target: `p99 ≤ ${SEND_P99_TARGET_MS} ms`,
      met: r.during.all.count ? done && clean(r.during) && r.during.all.p99 <= SEND_P99_TARGET_MS : false,
    },
  ];
}

/**
 * The web app at `/` (issue 14), in real Chromium through playwright-core: the JavaScript it ships (gzipped), the
 * time from the click on a room of 10,000 messages to its newest message on screen, and the DOM while scrolling back
 * through 2,000 of them (the timeline is virtualised).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { uuidv7 } from 'uuidv7';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { Latency, type LatencySummary } from '../lib/histogram.js';
import { log } from '../lib/log.js';
import { ROOT, type ServerProcess } from '../lib/processes.js';
import type { Row } from '../lib/report.js';
import type { Manifest, RoomPlan } from '../lib/seed.js';
import { armOpen, restPage, scrollBack, whyHidden, type OpenTrace } from '../lib/web-page.js';

export interface WebSizes {
  /** Messages in the direct room the viewer opens. */
  messages: number;
  /** First opens timed, each in a page of its own. */
  opens: number;
  /** How far back the timeline is scrolled. */
  scrollBack: number;
  /** Bound on one open (click → newest message on screen), and on the whole scroll back. */
  timeoutMs: number;
  scrollTimeoutMs: number;
}

export interface WebPlan {
  sizes: WebSizes;
  viewer: string;
  peer: string;
  room: RoomPlan;
}

export interface WebBundle {
  files: number;
  /** Sum of the .js files under web/dist/assets, raw and gzipped (level 9) one by one. */
  rawBytes: number;
  gzipBytes: number;
  /** web/dist was built by the bench (it was missing). */
  built: boolean;
  /** Files under web/src or client/src are newer than the build measured (and served). */
  stale: boolean;
}

export interface WebResult {
  bundle?: WebBundle;
  open?: {
    messages: number;
    /** Click on the room's link → the first animation frame in which the newest message's article is on screen. */
    inPage: LatencySummary;
    /** Click → the first frame with that article laid out and not hidden, on screen or not. */
    rendered: LatencySummary;
    /** The same from the bench's side: before Playwright's click → its wait for that article saw it visible. */
    driver: LatencySummary;
    /** The latest page (GET /rooms/:id/messages?limit=50) by plain fetch from the same page. */
    restPage: LatencySummary;
    /** Article elements in the DOM once the room is open (median over the opens). */
    articles: number;
    opens: number;
    timeoutMs: number;
    /** Opens in which the newest message never came on screen (within timeoutMs): where its article was instead. */
    missed: string[];
    /** The open nearest the median: the requests after the click and the main thread's long tasks. */
    median: OpenTrace;
  };
  scroll?: {
    target: number;
    reached: boolean;
    ms: number;
    /** Most article elements in the document, and elements inside the timeline, at any sample. */
    maxArticles: number;
    maxTimelineNodes: number;
    samples: number;
    /** Lowest seq in the DOM at the end. */
    lowestSeq: number | null;
    /** Older pages fetched (GET …/messages?before=) and the time they were in flight, summed. */
    pages: number;
    fetchMs: number;
  };
}

const WEB_DIR = path.join(ROOT, 'web');
const ASSETS = path.join(WEB_DIR, 'dist', 'assets');

export function planWeb(m: Manifest, sizes: WebSizes): WebPlan {
  const viewer = 'web-viewer';
  const peer = 'web-peer';
  // Direct: members[0] sends the even seqs, members[1] the odd ones; both have read it all (it opens at the bottom).
  const room: RoomPlan = { id: uuidv7(), type: 'direct', members: [peer, viewer], n: sizes.messages };
  m.all.push(room);
  return { sizes, viewer, peer, room };
}

const newest = (dir: string): number =>
  existsSync(dir) ? Math.max(0, ...readdirSync(dir, { recursive: true }).map((f) => statSync(path.join(dir, String(f))).mtimeMs)) : 0;

/**
 * JS shipped: every .js file under web/dist/assets gzipped at level 9, summed. Builds the app when there is no build;
 * a build older than its sources is measured as it is (another build may be under way) and flagged.
 */
export function webBundle(): WebBundle {
  let built = false;
  if (!existsSync(path.join(WEB_DIR, 'dist', 'index.html'))) {
    log('  web/dist is missing: building the web app (npm run build -w web)');
    try {
      execFileSync('npm', ['run', 'build', '-w', 'web'], { cwd: ROOT, stdio: 'pipe' });
    } catch (err) {
      throw new Error(`building the web app failed: ${String((err as { stdout?: Buffer }).stdout ?? err).slice(-500)}`, { cause: err });
    }
    built = true;
  }
  const files = readdirSync(ASSETS, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.js'));
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const f of files) {
    const body = readFileSync(path.join(ASSETS, f));
    rawBytes += body.length;
    gzipBytes += gzipSync(body, { level: 9 }).length;
  }
  const builtAt = statSync(path.join(WEB_DIR, 'dist', 'index.html')).mtimeMs;
  const stale = Math.max(newest(path.join(WEB_DIR, 'src')), newest(path.join(ROOT, 'client', 'src'))) > builtAt;
  if (stale) log('  ⚠️ web/dist is older than web/src or client/src: measuring the build as it is (run npm run build -w web)');
  log(`  web: ${files.length} JS file(s), ${(rawBytes / 1000).toFixed(1)} kB, ${(gzipBytes / 1000).toFixed(1)} kB gzipped`);
  return { files: files.length, rawBytes, gzipBytes, built, stale };
}

/** A page of the app at `#/` with the room list showing the room's link (signed in from localStorage after the first). */
async function home(context: BrowserContext, url: string, plan: WebPlan, signIn: boolean): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${url}/#/`);
  if (signIn) {
    await page.getByRole('textbox', { name: 'User ID' }).fill(plan.viewer);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: plan.peer }).waitFor({ timeout: 30_000 });
  return page;
}

async function openRoom(server: ServerProcess, token: string, plan: WebPlan, browser: Browser) {
  const { sizes, room } = plan;
  const newestSel = `article[data-seq="${room.n}"]`;
  const inPage = new Latency();
  const rendered = new Latency();
  const driver = new Latency();
  const articles: number[] = [];
  const traces: OpenTrace[] = [];
  const missed: string[] = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let page: Page | undefined;
  try {
    for (let i = 0; i < sizes.opens; i++) {
      // A page of its own each time: the SDK holds a room it opened, so a second click in one page opens nothing.
      await page?.close();
      page = await home(context, server.url, plan, i === 0);
      // Let the connect and the room list's own requests finish: the click is what is timed.
      await page.waitForLoadState('networkidle');
      await page.evaluate(armOpen(newestSel, sizes.timeoutMs));
      const link = page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: plan.peer });
      const t0 = performance.now();
      await link.click();
      // Playwright's "visible" is a box and no visibility: hidden, wherever the box is (also below the scroller's fold).
      const seen = await page
        .locator(newestSel)
        .waitFor({ state: 'visible', timeout: sizes.timeoutMs })
        .then(
          () => true,
          () => false,
        );
      if (seen) driver.record(performance.now() - t0);
      const trace = await page.evaluate<OpenTrace>('window.__benchOpen');
      traces.push(trace);
      if (trace.renderedAt !== null) rendered.record(trace.renderedAt);
      articles.push(await page.locator('article').count());
      if (trace.ms >= 0) {
        inPage.record(trace.ms);
        continue;
      }
      // Not on screen: counted as a miss (its time is not a sample), with where the article was.
      const why = await page.evaluate<string>(whyHidden(newestSel));
      missed.push(why);
      log(`  web: open ${i + 1}: the newest message was not on screen within ${sizes.timeoutMs} ms: ${why}`);
      if (process.env['BENCH_DEBUG']) {
        const file = path.join(os.tmpdir(), `chat-bench-web-open-${i + 1}.png`);
        await page.screenshot({ path: file });
        log(`  web: screenshot in ${file}`);
      }
    }
    const api = `${server.url}/api/v1/chat/rooms/${room.id}/messages?limit=50`;
    const rest = new Latency();
    for (const v of await page!.evaluate<number[]>(restPage(api, token, sizes.opens + 3)).then((a) => a.slice(3))) rest.record(v);
    articles.sort((a, b) => a - b);
    // The median of the opens that showed the message; when none did, of all by when it was laid out (below the fold).
    const shown = traces.filter((t) => t.ms >= 0).sort((a, b) => a.ms - b.ms);
    const laidOut = [...traces].sort((a, b) => (a.renderedAt ?? Infinity) - (b.renderedAt ?? Infinity));
    const median = shown[(shown.length - 1) >> 1] ?? laidOut[(laidOut.length - 1) >> 1]!;
    return {
      page: page!,
      context,
      open: {
        messages: room.n,
        inPage: inPage.summary(),
        rendered: rendered.summary(),
        driver: driver.summary(),
        restPage: rest.summary(),
        articles: articles[articles.length >> 1] ?? 0,
        opens: traces.length,
        timeoutMs: sizes.timeoutMs,
        missed,
        median,
      },
    };
  } catch (err) {
    await context.close();
    throw err;
  }
}

/** Opens the room in Chromium `opens` times (timed), then scrolls back through `scrollBack` messages in the last page. */
export async function webApp(server: ServerProcess, token: (userId: string) => Promise<string>, plan: WebPlan): Promise<WebResult> {
  const executablePath = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const { page, context, open } = await openRoom(server, await token(plan.viewer), plan, browser);
    try {
      log(
        `  web: open a room of ${open.messages.toLocaleString('en')} messages p50 ${ms(open.inPage.p50)} / max ${ms(open.inPage.max)} ms ` +
          `(driver ${ms(open.driver.p50)} / ${ms(open.driver.max)} ms; latest page by fetch p50 ${ms(open.restPage.p50)} ms); ${open.articles} articles` +
          (open.missed.length
            ? `; ${open.missed.length} of ${open.opens} never showed the newest message (laid out, below the fold, after p50 ${ms(open.rendered.p50)} / max ${ms(open.rendered.max)} ms)`
            : ''),
      );
      const m = open.median;
      log(
        `  web: the median open (${m.ms >= 0 ? `${m.ms.toFixed(0)} ms` : 'newest message never shown'}): requests ${m.requests.map((q) => `${q.url} ${q.start}→${q.end} ms`).join(', ') || 'none'}; ` +
          `long tasks ${m.longTasks.map((t) => `${t.ms} ms at ${t.start}`).join(', ') || 'none'}; timeline list at ${m.listAt ?? '–'} ms, newest article in the DOM at ${m.articleAt ?? '–'} ms (${m.articleShown ? 'on screen' : 'not on screen'} then)`,
      );
      const target = plan.room.n - plan.sizes.scrollBack;
      const s = await page.evaluate<Omit<NonNullable<WebResult['scroll']>, 'target'>>(scrollBack(target, plan.sizes.scrollTimeoutMs));
      const scroll = { target, ...s };
      log(
        `  web: scroll back to seq ${target}: ${scroll.reached ? `${(scroll.ms / 1000).toFixed(1)} s` : `not reached in ${(scroll.ms / 1000).toFixed(1)} s (lowest ${scroll.lowestSeq})`}, ` +
          `at most ${scroll.maxArticles} articles and ${scroll.maxTimelineNodes} timeline elements (${scroll.samples} frames); ` +
          `${scroll.pages} older pages fetched, in flight ${(scroll.fetchMs / 1000).toFixed(1)} s in all`,
      );
      return { open, scroll };
    } finally {
      await context.close();
    }
  } finally {
    await browser.close();
  }
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '–');
const x = (r: number) => (Number.isFinite(r) ? `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×` : '–');

/** The table's rows (report.ts adds the engine). */
export function webRows(r: WebResult): Array<Omit<Row, 'engine'>> {
  const rows: Array<Omit<Row, 'engine'>> = [];
  const b = r.bundle;
  if (b) {
    rows.push({
      scenario: `web app: JavaScript shipped (${b.files} file${b.files === 1 ? '' : 's'} under web/dist/assets${b.stale ? '; build older than its sources' : ''})`,
      metric: 'sum of gzip -9 sizes',
      service: `${(b.gzipBytes / 1000).toFixed(1)} kB (${(b.rawBytes / 1000).toFixed(0)} kB raw)`,
      baseline: '—',
      ratio: '',
      target: '≤ 200 kB',
      met: b.gzipBytes <= 200_000,
    });
  }
  const o = r.open;
  if (o) {
    rows.push({
      scenario: `web app in Chromium: open a room of ${o.messages.toLocaleString('en')} messages (${o.opens} first opens)`,
      metric: 'click → newest message on screen: p50 / max',
      service:
        `${ms(o.inPage.p50)} / ${ms(o.inPage.max)} ms (${o.articles} articles rendered)` +
        (o.missed.length
          ? `; ${o.missed.length} of ${o.opens} never showed it within ${o.timeoutMs / 1000} s (e.g. ${o.missed[0]}); ` +
            `click → its article laid out and not hidden, on screen or not: ${ms(o.rendered.p50)} / ${ms(o.rendered.max)} ms`
          : ''),
      baseline: `${ms(o.restPage.p50)} / ${ms(o.restPage.max)} ms the latest page (50) by fetch from the page`,
      // A JSON round trip (--render) turns the NaN of an empty summary into null.
      ratio: o.inPage.count ? `${x(o.inPage.p50 / o.restPage.p50)} / ${x(o.inPage.max / o.restPage.max)} (max)` : '',
      target: '≤ 300 ms',
      met: o.missed.length === 0 && o.inPage.max <= 300,
    });
  }
  if (o?.median) {
    const m = o.median;
    const busy = m.longTasks.reduce((a, t) => a + t.ms, 0);
    const lastResponse = Math.max(0, ...m.requests.map((q) => q.end));
    rows.push({
      scenario: 'where the median open’s time goes (diagnostic)',
      metric: 'requests after the click (start → end); main-thread long tasks',
      service:
        `${m.ms >= 0 ? `${ms(m.ms)} ms` : 'never shown'}: ${m.requests.map((q) => `${q.url.replace(/^\/api\/v1\/chat/, '').replace(/[0-9a-f-]{36}/g, ':id')} ${q.start} → ${q.end} ms`).join(', ') || 'no requests'}; ` +
        `${m.longTasks.length} long task(s), ${busy} ms; timeline list at ${m.listAt ?? '–'} ms, newest article in the DOM at ${m.articleAt ?? '–'} ms${m.articleShown === false ? ' (not on screen yet)' : ''}` +
        (m.ms >= 0 ? `; on screen ${Math.max(0, Math.round(m.ms - lastResponse))} ms after the last response` : ''),
      baseline: '—',
      ratio: '',
      target: '',
      met: null,
    });
  }
  const s = r.scroll;
  if (s) {
    rows.push({
      scenario: `web app in Chromium: scroll back through ${(r.open ? r.open.messages - s.target : 0).toLocaleString('en')} messages (to the top every frame)`,
      metric: 'most article nodes in the DOM; time to reach the oldest',
      service:
        `${s.maxArticles} articles, ${s.maxTimelineNodes.toLocaleString('en')} timeline elements; ` +
        `${s.reached ? `${(s.ms / 1000).toFixed(1)} s` : `not reached in ${(s.ms / 1000).toFixed(1)} s (lowest seq ${s.lowestSeq ?? '–'})`} ` +
        `(${s.pages} older pages fetched, in flight ${(s.fetchMs / 1000).toFixed(1)} s in all)`,
      baseline: '—',
      ratio: '',
      target: '< 500 message nodes',
      met: s.reached && s.maxArticles < 500,
    });
  }
  return rows;
}

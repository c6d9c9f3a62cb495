import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, inject } from 'vitest';
import { startTestApp, type TestApp } from './app.js';

/**
 * End-to-end tests of the web app at `/` in a real Chromium (Debian's package, driven by playwright-core): one browser
 * and one service per test file, a fresh browser context per user per test. Everything is found by the accessible
 * names the contract fixes ("Web app" in API.md), never by the app's markup, except the few hooks the tests are told
 * about (data-status ticks, the pending class, the hidden file input).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB_INDEX = path.join(ROOT, 'web/dist/index.html');

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const noChromium = existsSync(CHROMIUM_PATH) ? null : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
if (noChromium) console.warn(`web app end-to-end tests skipped: ${noChromium}`);

/**
 * Why the browser suites do not run in this project, or null. CI installs chromium, so there they always run — once,
 * in the PGlite project: the page talks to the same API on either engine, which every other suite checks on both.
 */
export const browserMissing: string | null =
  noChromium ?? (inject('template').kind === 'postgres' ? 'the browser suites run once, in the PGlite project' : null);

/** Playwright's own waits give up well before a test's timeout, so a failure names the locator it waited for. */
const WAIT_MS = 10_000;
export const BROWSER_TEST_MS = 45_000;
const BUILD_MS = 150_000;
const VIEWPORT = { width: 1200, height: 760 };
export const PHONE = { width: 390, height: 844 };

/**
 * The built app; a checkout where nobody ran `npm install` (whose prepare builds it) gets it built once here. Test files
 * run side by side and vite empties web/dist as it starts: one builds (holding a lock folder), the others wait for it.
 */
export async function ensureWebBuilt(): Promise<void> {
  if (existsSync(WEB_INDEX)) return;
  const lock = path.join(ROOT, '.test-tmp/web-build.lock');
  await mkdir(path.dirname(lock), { recursive: true });
  // A lock left by a run that died mid-build is taken over.
  const age = await stat(lock).then(
    (s) => Date.now() - s.mtimeMs,
    () => null,
  );
  if (age !== null && age > BUILD_MS) await rm(lock, { recursive: true, force: true });
  const mine = await mkdir(lock).then(
    () => true,
    () => false,
  );
  if (!mine) {
    await expect.poll(() => existsSync(WEB_INDEX), { timeout: BUILD_MS, interval: 500 }).toBe(true);
    return;
  }
  try {
    await promisify(execFile)('npm', ['run', 'build', '-w', 'web'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
  if (!existsSync(WEB_INDEX)) throw new Error(`npm run build -w web left no ${WEB_INDEX}`);
}

/** Written to docs/screenshots (the README shows them) only when asked, so an ordinary run never dirties the tree. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = path.join(ROOT, process.env['UPDATE_SCREENSHOTS'] === '1' ? 'docs/screenshots' : '.test-tmp/screenshots');
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), type: 'png' });
}

export interface User {
  id: string;
  name: string | undefined;
  context: BrowserContext;
  page: Page;
}

export interface WebAppSuite {
  /** The service under test (its database is PGlite, or PostgreSQL on the TEST_DATABASE_URL run). */
  readonly app: TestApp;
  /** Where the browser reaches it: the service's PUBLIC_URL. */
  readonly url: string;
  /** A new browser context (its own storage: a separate person) on the app's page, not signed in yet. */
  visit(): Promise<Page>;
  /** A person signed in through the dev sign-in form, the room list on screen. */
  signIn(id: string, name?: string): Promise<User>;
}

let sequence = 0;
/** A user id no other test (or earlier run against the same server) has used. */
export const uid = (who: string) => `${who}-${Date.now().toString(36)}-${++sequence}`;

/**
 * Registers the suite's hooks: the app and the browser for the file, and after every test its contexts closed and the
 * check that no page threw (an uncaught error or rejection in any page fails the test that caused it).
 */
interface FrontDoor {
  url: string;
  forwardTo(port: number): void;
  close(): Promise<void>;
}

/**
 * The address people use (PUBLIC_URL), in front of the app's own port 0 as a reverse proxy would be: the service names
 * PUBLIC_URL in what it hands out (local media URLs, the CSP), so the browser must reach it there. Its port has to be
 * known before the app is configured, the app's only after it listens: hence a plain TCP forwarder, aimed afterwards.
 */
async function frontDoor(): Promise<FrontDoor> {
  let target = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    forwardTo: (p) => (target = p),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function webAppSuite(): WebAppSuite {
  let app: TestApp | undefined;
  let browser: Browser | undefined;
  let contexts: BrowserContext[] = [];
  let pageErrors: string[] = [];

  let front: FrontDoor | undefined;

  beforeAll(async () => {
    await ensureWebBuilt();
    front = await frontDoor();
    app = await startTestApp({ PUBLIC_URL: front.url });
    front.forwardTo(Number(new URL(app.baseUrl).port));
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
  }, BUILD_MS + 30_000);

  afterEach(async () => {
    // A page's errors fail the test that caused them (vitest fails a test whose afterEach throws).
    const errors = pageErrors;
    pageErrors = [];
    await Promise.all(contexts.map((c) => c.close()));
    contexts = [];
    expect(errors, 'errors thrown in the pages').toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await front?.close();
  });

  const visit = async (): Promise<Page> => {
    if (!browser || !app) throw new Error('the suite has not started');
    const context = await browser.newContext({ viewport: VIEWPORT, baseURL: front!.url });
    context.setDefaultTimeout(WAIT_MS);
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
    // The CSP refusing something the app itself asked for is a broken app, not a blocked attack.
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) pageErrors.push(`${page.url()}: ${m.text()}`);
    });
    await page.goto('/');
    return page;
  };

  return {
    get app() {
      if (!app) throw new Error('the suite has not started');
      return app;
    },
    get url() {
      if (!front) throw new Error('the suite has not started');
      return front.url;
    },
    visit,
    async signIn(id, name) {
      const page = await visit();
      await signInOn(page, id, name);
      return { id, name, context: page.context(), page };
    },
  };
}

export async function signInOn(page: Page, id: string, name?: string): Promise<void> {
  await page.getByRole('textbox', { name: 'User ID', exact: true }).fill(id);
  if (name !== undefined) await page.getByRole('textbox', { name: 'Name' }).fill(name);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await rooms(page).waitFor();
}

// ---- the screens, by the contract's names

export const rooms = (page: Page): Locator => page.getByRole('navigation', { name: 'Rooms', exact: true });
export const roomLink = (page: Page, title: string): Locator => rooms(page).getByRole('link', { name: title, exact: true });
/** The unread count of an entry: an element of its own whose whole text is the number. */
export const unreadBadge = (entry: Locator, count?: number): Locator =>
  entry.getByText(count === undefined ? /^\d+$/ : String(count), { exact: true });
export const messageBox = (page: Page): Locator => page.getByRole('textbox', { name: 'Message', exact: true });
export const articles = (page: Page, text?: string): Locator =>
  text === undefined ? page.getByRole('article') : page.getByRole('article').filter({ hasText: text });

/** "New chat" → "Participant" → "Start": the direct room with that person is open, its composer ready. */
export async function startChat(page: Page, participant: string): Promise<void> {
  await page.getByRole('button', { name: 'New chat', exact: true }).click();
  await page.getByRole('textbox', { name: 'Participant', exact: true }).fill(participant);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await messageBox(page).waitFor();
}

/** Writes and sends; resolves once the message is on the sender's screen (pending or stored). */
export async function send(page: Page, text: string): Promise<Locator> {
  await messageBox(page).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const mine = articles(page, text);
  await mine.first().waitFor();
  return mine;
}

/** The room open in this page, from the address (`#/r/<id>`). */
export function openRoomId(page: Page): string {
  const match = /#\/r\/([^/]+)/.exec(new URL(page.url()).hash);
  if (!match) throw new Error(`no room open at ${page.url()}`);
  return decodeURIComponent(match[1]!);
}

/** Waits until the locator matches exactly `n` elements (a wait, not a timed assertion: it fails only at the timeout). */
export async function expectCount(locator: Locator, n: number): Promise<void> {
  await expect.poll(() => locator.count(), { timeout: WAIT_MS }).toBe(n);
}

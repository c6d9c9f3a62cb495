import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { API_PREFIX } from '../src/app.js';
import {
  articles,
  BROWSER_TEST_MS,
  browserMissing,
  expectCount,
  messageBox,
  openRoomId,
  roomLink,
  send,
  startChat,
  uid,
  unreadBadge,
  webAppSuite,
  type User,
} from './helpers/browser.js';
import { png } from './media-fixtures.js';

/**
 * The web app in Chromium, the harder paths of a message: an image upload shown on both sides, a send while offline
 * that arrives exactly once, and content that must stay text. The rest of the app: web-app.test.ts.
 */

/** Every image of the page has finished loading or failing, so an onerror handler would have run by now. */
const imagesSettled = (page: Page) => page.waitForFunction('[...document.images].every((img) => img.complete)');

describe.skipIf(browserMissing)(`web app in Chromium: messages${browserMissing ? ` (skipped: ${browserMissing})` : ''}`, () => {
  const web = webAppSuite();

  /** Alice and Bob in their direct room, both with it open. */
  async function pair(): Promise<{ alice: User; bob: User; roomId: string }> {
    const [alice, bob] = await Promise.all([web.signIn(uid('alice'), 'Alice'), web.signIn(uid('bob'), 'Bob')]);
    await startChat(alice.page, bob.id);
    await send(alice.page, 'Hi Bob');
    await roomLink(bob.page, 'Alice').click();
    await articles(bob.page, 'Hi Bob').waitFor();
    return { alice, bob, roomId: openRoomId(alice.page) };
  }

  /** The room's stored messages as the service has them, read with a token from the dev sign-in. */
  async function stored(userId: string, roomId: string): Promise<Array<{ content: string; clientMessageId: string | null }>> {
    const minted = await fetch(`${web.app.baseUrl}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    const res = await fetch(`${web.app.baseUrl}${API_PREFIX}/rooms/${roomId}/messages?limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: Array<{ content: string; clientMessageId: string | null }> }).data;
  }

  it('an image sent from the file picker shows as a loaded thumbnail on both sides', { timeout: BROWSER_TEST_MS }, async () => {
    const { alice, bob } = await pair();
    await alice.page.setInputFiles('input[type=file]', { name: 'red.png', mimeType: 'image/png', buffer: await png(64, 48) });
    await alice.page.getByRole('button', { name: 'Send', exact: true }).click();

    for (const page of [alice.page, bob.page]) {
      const img = articles(page)
        .filter({ has: page.locator('img') })
        .filter({ hasText: 'Alice' })
        .locator('img');
      await img.waitFor();
      await expectCount(img, 1);
      // Loaded, not just present: the thumbnail's address is allowed by the page's CSP and answers an image.
      await expect
        .poll(() =>
          img.evaluate((el) => {
            const image = el as unknown as { complete: boolean; naturalWidth: number };
            return image.complete ? image.naturalWidth : 0;
          }),
        )
        .toBeGreaterThan(0);
    }
  });

  it('a message sent offline shows as pending, then arrives exactly once when back online', { timeout: BROWSER_TEST_MS }, async () => {
    const { alice, bob, roomId } = await pair();
    const text = 'queued while offline';
    // Every attempt the page makes to store it, whether or not it got through.
    const attempts: string[] = [];
    alice.page.on('request', (req) => {
      const body = req.method() === 'POST' && req.url().endsWith(`/rooms/${roomId}/messages`) ? req.postData() : null;
      if (body?.includes(text)) attempts.push((JSON.parse(body) as { clientMessageId: string }).clientMessageId);
    });

    await alice.context.setOffline(true);
    const pending = await send(alice.page, text);
    const shownPending = alice.page
      .locator('article.pending', { hasText: text })
      .or(pending.filter({ has: alice.page.locator('[data-status="sending"]') }));
    await shownPending.first().waitFor();
    // The composer stays usable while offline.
    await expect(messageBox(alice.page).isEditable()).resolves.toBe(true);
    await expectCount(articles(bob.page, text), 0);

    await alice.context.setOffline(false);
    await articles(bob.page, text).waitFor();
    await pending.locator('[data-status="sent"], [data-status="delivered"], [data-status="read"]').waitFor();
    // A later message arrives after any repeat of the first would have: then each side holds the first once.
    await send(alice.page, 'after coming back');
    await articles(bob.page, 'after coming back').waitFor();
    await expectCount(articles(alice.page, text), 1);
    await expectCount(articles(bob.page, text), 1);
    await expectCount(alice.page.locator('article.pending'), 0);

    const messages = await stored(bob.id, roomId);
    const copies = messages.filter((m) => m.content === text);
    expect(copies).toHaveLength(1);
    // However often it was tried, always as the same message.
    expect(attempts.length).toBeGreaterThan(0);
    expect(new Set(attempts)).toEqual(new Set([copies[0]!.clientMessageId]));
  });

  it('a send whose answer is lost goes again as the same message and is stored once', { timeout: BROWSER_TEST_MS }, async () => {
    const { alice, bob, roomId } = await pair();
    const text = 'answer lost on the way back';
    const attempts: string[] = [];
    // The first attempt reaches the service and is stored, but its answer never comes back to the page.
    await alice.page.route(`**/rooms/${roomId}/messages`, async (route) => {
      const body = route.request().method() === 'POST' ? route.request().postData() : null;
      if (!body?.includes(text)) return route.fallback();
      attempts.push((JSON.parse(body) as { clientMessageId: string }).clientMessageId);
      if (attempts.length > 1) return route.fallback();
      await route.fetch();
      await route.abort('connectionreset');
    });

    const mine = await send(alice.page, text);
    await articles(bob.page, text).waitFor();
    await mine.locator('[data-status="sent"], [data-status="delivered"], [data-status="read"]').waitFor();
    await send(alice.page, 'and the next one');
    await articles(bob.page, 'and the next one').waitFor();
    await expectCount(articles(alice.page, text), 1);
    await expectCount(articles(bob.page, text), 1);

    expect(attempts.length).toBeGreaterThan(1);
    const copies = (await stored(bob.id, roomId)).filter((m) => m.content === text);
    expect(copies).toHaveLength(1);
    expect(new Set(attempts)).toEqual(new Set([copies[0]!.clientMessageId]));
  });

  it('markup in a message is shown as its characters and never runs', { timeout: BROWSER_TEST_MS }, async () => {
    const { alice, bob } = await pair();
    const hostile = ['<img src=x onerror="window.__pwned=1">', '<b>bold</b>'];
    for (const text of hostile) await send(alice.page, text);

    for (const page of [alice.page, bob.page]) {
      for (const text of hostile) {
        const article = articles(page, text);
        await article.waitFor();
        await expect(article.textContent()).resolves.toContain(text);
        await expectCount(article.locator('img, b'), 0);
      }
      await imagesSettled(page);
      await expect(page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).resolves.toBeUndefined();
    }
    // The preview in Bob's room list is text too.
    const entry = roomLink(bob.page, 'Alice');
    await expect(entry.textContent()).resolves.toContain('<b>bold</b>');
    await expectCount(entry.locator('img, b'), 0);
    await expectCount(unreadBadge(entry), 0);
  });

  it(
    'opens a long room at its newest message, in the first frame that has it there, and paints no other position first',
    { timeout: BROWSER_TEST_MS },
    async () => {
      const [ivy, jon] = [uid('ivy'), uid('jon')];
      const rest = await web.app.as(jon, { name: 'Jon' });
      const room = (await rest.post('/rooms', { type: 'direct', participantIds: [ivy] })).body;
      // Rows of two heights, none of them the list's default estimate: its first guess at the bottom is off.
      for (let i = 1; i <= 80; i++) {
        const content = i % 2 ? `line ${i}` : `line ${i}: ${'a longer line that wraps onto a second line of the bubble '.repeat(3)}`;
        expect((await rest.post(`/rooms/${room.id}/messages`, { content })).status).toBe(201);
      }
      // All read: the room opens at its newest message, not at an unread line.
      expect((await (await web.app.as(ivy)).patch(`/rooms/${room.id}/read`)).status).toBe(200);
      const { page } = await web.signIn(ivy, 'Ivy');
      const link = roomLink(page, 'Jon');
      await link.waitFor();
      // Every frame from the click until half a second after the newest message showed: which messages were painted
      // inside the scroller, and who had revealed the list (the app sets visibility; Virtuoso's own check removes it).
      // Inside a function returning nothing: evaluate would otherwise wait for the promise.
      await page.evaluate(`(() => { window.__frames = new Promise((resolve) => {
        document.addEventListener('click', () => {
          const frames = [];
          let seenAt = null;
          const tick = () => {
            const scroller = document.querySelector('[data-virtuoso-scroller]');
            const list = document.querySelector('[data-testid=virtuoso-item-list]');
            const view = scroller && scroller.getBoundingClientRect();
            const painted = [...document.querySelectorAll('article')].filter((a) => {
              const r = a.getBoundingClientRect();
              return view && a.checkVisibility({ visibilityProperty: true }) && r.height > 0 && r.bottom > view.top && r.top < view.bottom;
            });
            const newest = painted.some((a) => a.dataset.seq === '80');
            frames.push({ painted: painted.length, newest, scrollTop: scroller && scroller.scrollTop, revealedBy: list ? list.style.visibility : null });
            if (seenAt === null && newest) seenAt = performance.now();
            if ((seenAt !== null && performance.now() - seenAt > 500) || frames.length > 900) resolve(frames);
            else requestAnimationFrame(tick);
          };
          requestAnimationFrame(tick);
        }, { capture: true, once: true });
      }); })()`);
      await link.click();
      type Frame = { painted: number; newest: boolean; scrollTop: number; revealedBy: string | null };
      const frames = await page.evaluate<Frame[]>('window.__frames');
      const shown = frames.filter((f) => f.painted > 0);
      expect(shown.length).toBeGreaterThan(0);
      // Every frame with messages on screen has the newest among them, at one scroll position: no jump from a first guess.
      expect(shown.filter((f) => !f.newest)).toEqual([]);
      expect(new Set(shown.map((f) => f.scrollTop)).size).toBe(1);
      // Revealed by the app's own check of the layout, not after Virtuoso's 150 ms wait.
      expect(shown[0]!.revealedBy).toBe('visible');
    },
  );
});

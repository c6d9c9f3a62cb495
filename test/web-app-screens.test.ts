import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  articles,
  BROWSER_TEST_MS,
  browserMissing,
  expectCount,
  messageBox,
  rooms,
  screenshot,
  send,
  uid,
  webAppSuite,
} from './helpers/browser.js';

/**
 * The web app as a platform embeds it (a token in the address or by postMessage), and the screens beyond a plain
 * chat: search that opens the room at an old message, and the message actions (reply, react, edit, delete) as the
 * other person sees them.
 */

/** The message whose own text (not a quote of it in a reply) holds `text`. */
const message = (page: Page, text: string) => page.getByRole('article').filter({ has: page.locator('.content', { hasText: text }) });
const actionsOf = (page: Page, text: string) => message(page, text).getByRole('button', { name: 'Actions', exact: true });

async function act(page: Page, text: string, item: string): Promise<void> {
  await actionsOf(page, text).click();
  await page.getByRole('menuitem', { name: item, exact: true }).click();
}

describe.skipIf(browserMissing)(`web app screens in Chromium${browserMissing ? ` (skipped: ${browserMissing})` : ''}`, () => {
  const web = webAppSuite();

  /** A person signed in the way a platform signs them in: the token in the address, which the app then forgets. */
  async function embedded(id: string, name: string): Promise<Page> {
    const page = await web.visit();
    const token = await web.app.token(id, { name });
    await page.goto(`/#token=${encodeURIComponent(token)}`);
    await rooms(page).waitFor();
    return page;
  }

  it(
    'takes a token from the address, removes it from there, and keeps the session over a reload',
    { timeout: BROWSER_TEST_MS },
    async () => {
      const page = await embedded(uid('carol'), 'Carol');
      expect(new URL(page.url()).hash).not.toContain('token');
      await expectCount(page.getByRole('textbox', { name: 'User ID' }), 0);
      await page.reload();
      await rooms(page).waitFor();
      await expect.poll(() => page.getByText('Carol', { exact: true }).count()).toBeGreaterThan(0);
    },
  );

  it('takes a token posted by the page that frames it, and only from that page', { timeout: BROWSER_TEST_MS }, async () => {
    const page = await web.visit();
    const id = uid('dave');
    const token = await web.app.token(id, { name: 'Dave' });
    // Page scripts are strings: the tests are type-checked without the DOM library.
    await page.evaluate(`document.body.innerHTML = '<iframe id="chat" src="/" style="width:900px;height:600px"></iframe>'`);
    const frame = page.frameLocator('#chat');
    await frame.getByRole('textbox', { name: 'User ID', exact: true }).waitFor();
    // A message from the framed page itself is not its parent's word: ignored.
    const framed = page.frames().find((f) => f !== page.mainFrame())!;
    const mallory = await web.app.token(uid('mallory'), { name: 'Mallory' });
    // Then past the message's handling and the render it would cause: two frames after a task queued behind it.
    await framed.evaluate(`(async () => {
      window.postMessage({ type: 'chat:token', token: ${JSON.stringify(mallory)} }, '*');
      await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    })()`);
    expect(await frame.getByRole('navigation', { name: 'Rooms', exact: true }).count()).toBe(0);
    expect(await frame.getByRole('textbox', { name: 'User ID', exact: true }).count()).toBe(1);
    await page.evaluate(
      `document.getElementById('chat').contentWindow.postMessage({ type: 'chat:token', token: ${JSON.stringify(token)} }, '*')`,
    );
    await frame.getByRole('navigation', { name: 'Rooms', exact: true }).waitFor();
    await expect.poll(() => frame.getByText('Dave', { exact: true }).count()).toBeGreaterThan(0);
    expect(await frame.getByText('Mallory').count()).toBe(0);
  });

  it(
    'keeps the layout still while it connects, so a click aimed as the rooms show lands where aimed',
    { timeout: BROWSER_TEST_MS },
    async () => {
      const page = await web.visit();
      const token = await web.app.token(uid('ivy'), { name: 'Ivy' });
      // Where the Search link is at every change of the page from sign-in until the connection is live.
      await page.evaluate(`window.searchLinkTops = []; new MutationObserver(() => {
      const link = document.querySelector('a[href="#/search"]');
      if (link) window.searchLinkTops.push(link.getBoundingClientRect().top);
    }).observe(document.body, { childList: true, subtree: true, attributes: true, characterData: true })`);
      await page.goto(`/#token=${encodeURIComponent(token)}`);
      await rooms(page).waitFor();
      await page
        .getByRole('status')
        .filter({ hasText: /Connecting|Catching up/ })
        .waitFor({ state: 'hidden' });
      const tops = (await page.evaluate('window.searchLinkTops')) as number[];
      expect(tops.length).toBeGreaterThan(1);
      expect(new Set(tops).size).toBe(1);
    },
  );

  it('finds a message by search and opens its room scrolled to it, far back in the history', { timeout: BROWSER_TEST_MS }, async () => {
    const [erin, frank] = [uid('erin'), uid('frank')];
    const rest = await web.app.as(erin, { name: 'Erin' });
    const room = (await rest.post('/rooms', { type: 'direct', participantIds: [frank] })).body;
    for (let i = 1; i <= 130; i++) {
      const content = i === 3 ? 'the needle in the haystack' : `filler ${i}`;
      expect((await rest.post(`/rooms/${room.id}/messages`, { content })).status).toBe(201);
    }
    const page = await embedded(erin, 'Erin');
    await page.getByRole('link', { name: 'Search', exact: true }).click();
    await page.getByRole('textbox', { name: 'Search text', exact: true }).fill('needle');
    await page.keyboard.press('Enter');
    const hit = page.locator('mark', { hasText: 'needle' }).first();
    await hit.waitFor();
    await hit.click();
    // Message 3 of 130 was never on screen: the room opens around it (not at the newest page) and shows it.
    await articles(page, 'the needle in the haystack').waitFor();
    await expect.poll(() => articles(page, 'the needle in the haystack').isVisible()).toBe(true);
    expect(await articles(page, 'filler 130').count()).toBe(0);
  });

  it(
    'replies, reacts, edits and deletes through the Actions menu, and the other person sees each',
    { timeout: BROWSER_TEST_MS },
    async () => {
      const [gina, hal] = [uid('gina'), uid('hal')];
      const rest = await web.app.as(gina, { name: 'Gina' });
      const room = (await rest.post('/rooms', { type: 'direct', participantIds: [hal] })).body;
      const [g, h] = await Promise.all([embedded(gina, 'Gina'), embedded(hal, 'Hal')]);
      for (const page of [g, h]) await page.goto(`/#/r/${room.id}`);
      await messageBox(g).waitFor();
      await messageBox(h).waitFor();

      await send(g, 'original words');
      await articles(h, 'original words').waitFor();

      await act(h, 'original words', 'Reply');
      await send(h, 'my answer');
      // The reply quotes its parent, on both sides.
      await expect.poll(() => articles(g, 'my answer').locator('blockquote').textContent()).toContain('original words');

      await actionsOf(h, 'original words').click();
      await h.getByRole('menuitemcheckbox', { name: 'React 👍', exact: true }).click();
      await message(g, 'original words').getByRole('button', { name: '👍 1', exact: true }).waitFor();

      await act(g, 'original words', 'Edit');
      await g.getByRole('textbox', { name: 'Edit text', exact: true }).fill('better words');
      await g.getByRole('button', { name: 'Save', exact: true }).click();
      await message(h, 'better words').getByText('(edited)').waitFor();
      await expectCount(message(h, 'original words'), 0);
      await send(h, 'Looks good to me');
      await articles(g, 'Looks good to me').waitFor();
      // Seen in the room she has open: read at once, no count left in her list.
      await rooms(g).getByText('1', { exact: true }).waitFor({ state: 'detached' });
      await screenshot(g, 'conversation');

      g.once('dialog', (d) => void d.accept());
      await act(g, 'better words', 'Delete');
      await articles(h, 'This message was deleted.').waitFor();
      await expectCount(message(h, 'better words'), 0);
      // The reply stays, its quote now says its parent is gone.
      await expect.poll(() => articles(h, 'my answer').locator('blockquote').textContent()).toContain('Deleted message');
    },
  );

  it(
    'shows staff the support queue; joining a conversation opens it and the customer gets the answer',
    { timeout: BROWSER_TEST_MS },
    async () => {
      const [customer, agent] = [uid('ivy'), uid('agent')];
      const rest = await web.app.as(customer, { name: 'Ivy' });
      const room = (await rest.post('/rooms', { type: 'support' })).body;
      expect((await rest.post(`/rooms/${room.id}/messages`, { content: 'my order never came' })).status).toBe(201);

      const page = await web.visit();
      await page.goto(`/#token=${encodeURIComponent(await web.app.token(agent, { name: 'Agent', role: 'support' }))}`);
      await page.getByRole('link', { name: 'Support queue', exact: true }).click();
      const queue = page.getByRole('list', { name: 'Open support conversations', exact: true });
      const entry = queue.getByRole('listitem').filter({ hasText: 'Ivy' });
      await entry.getByText('my order never came').waitFor();
      await entry.getByRole('button', { name: 'Join', exact: true }).click();
      await articles(page, 'my order never came').waitFor();
      await send(page, 'On its way today');
      await expect
        .poll(async () => (await rest.get(`/rooms/${room.id}/messages`)).body.data.map((m: { content: string }) => m.content))
        .toEqual(['my order never came', 'On its way today']);
      // Joined: the queue now offers to open it, not to join it again.
      await page.getByRole('link', { name: 'Support queue', exact: true }).click();
      await entry.getByRole('button', { name: 'Open', exact: true }).waitFor();
    },
  );

  it('completes an @mention from the room people, and the message names them as mentioned', { timeout: BROWSER_TEST_MS }, async () => {
    const [jo, kim] = [uid('jo'), uid('kim')];
    const rest = await web.app.as(jo, { name: 'Jo' });
    await web.app.as(kim, { name: 'Kimberly' }).then((k) => k.get('/me'));
    const room = (await rest.post('/rooms', { type: 'group', participantIds: [kim], name: 'Planning' })).body;
    const page = await embedded(jo, 'Jo');
    await page.goto(`/#/r/${room.id}`);
    await messageBox(page).pressSequentially('ping @Kim');
    const options = page.getByRole('listbox', { name: 'People to mention', exact: true });
    await options.getByRole('option', { name: /Kimberly/ }).waitFor();
    await page.keyboard.press('Enter');
    await expect.poll(() => messageBox(page).inputValue()).toBe('ping @Kimberly ');
    await page.keyboard.type('are you in?');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await articles(page, 'are you in?').locator('.mention', { hasText: '@Kimberly' }).waitFor();
    await expect
      .poll(async () => (await rest.get(`/rooms/${room.id}/messages`)).body.data.map((m: { mentions: string[] }) => m.mentions))
      .toEqual([[kim]]);
  });
});

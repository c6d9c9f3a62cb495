import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_TEST_MS,
  browserMissing,
  expectCount,
  messageBox,
  openRoomId,
  roomLink,
  screenshot,
  send,
  startChat,
  uid,
  webAppSuite,
} from './helpers/browser.js';

/**
 * The web app's safety controls in Chromium, two people: reporting a message from its Actions menu, blocking and
 * unblocking from a direct room's Details, and the banner a suspended user sees.
 */

/** The message whose own text holds `text`. */
const message = (page: Page, text: string) => page.getByRole('article').filter({ has: page.locator('.content', { hasText: text }) });
const openActions = (page: Page, text: string) => message(page, text).getByRole('button', { name: 'Actions', exact: true }).click();

describe.skipIf(browserMissing)(`web app safety in Chromium${browserMissing ? ` (skipped: ${browserMissing})` : ''}`, () => {
  const web = webAppSuite();

  it('reports a message, blocks and unblocks the other person, and shows a suspension', { timeout: BROWSER_TEST_MS * 2 }, async () => {
    const [alice, bob] = await Promise.all([web.signIn(uid('alice'), 'Alice'), web.signIn(uid('bob'), 'Bob')]);
    const [aliceApi, bobApi, admin] = await Promise.all([
      web.app.as(alice.id),
      web.app.as(bob.id),
      web.app.as(uid('root'), { role: 'admin' }),
    ]);
    await startChat(alice.page, bob.id);
    await send(alice.page, 'Buy cheap watches');
    const roomId = openRoomId(alice.page);
    const stored = async () => (await aliceApi.get(`/rooms/${roomId}/messages`)).body.data.map((m: any) => m.content);
    const openReports = async () =>
      (await admin.get('/admin/reports?status=open&limit=100')).body.data.filter((r: any) => r.chatRoomId === roomId);

    // Nobody reports their own message.
    await openActions(alice.page, 'Buy cheap watches');
    await alice.page.getByRole('menuitem', { name: 'Reply', exact: true }).waitFor();
    await expectCount(alice.page.getByRole('menuitem', { name: 'Report' }), 0);
    await alice.page.keyboard.press('Escape');

    await roomLink(bob.page, 'Alice').click();
    await message(bob.page, 'Buy cheap watches').waitFor();
    await openActions(bob.page, 'Buy cheap watches');
    await bob.page.getByRole('menuitem', { name: 'Report', exact: true }).click();
    const dialog = bob.page.getByRole('dialog', { name: 'Report to moderators', exact: true });
    // Without a reason nothing is sent.
    await dialog.getByRole('button', { name: 'Submit report', exact: true }).click();
    await dialog.getByRole('alert').filter({ hasText: 'Choose a reason.' }).waitFor();
    expect(await openReports()).toEqual([]);
    await dialog.getByRole('radio', { name: 'Spam', exact: true }).check();
    await dialog.getByRole('textbox', { name: 'Note (optional)', exact: true }).fill('<b>again</b> and again');
    await screenshot(bob.page, 'report');
    await dialog.getByRole('button', { name: 'Submit report', exact: true }).click();
    await dialog.getByRole('status').filter({ hasText: 'Thank you' }).waitFor();
    expect(await openReports()).toMatchObject([{ reporterId: bob.id, reason: 'spam', details: '<b>again</b> and again' }]);
    await dialog.getByRole('button', { name: 'Done', exact: true }).click();
    await expectCount(bob.page.getByRole('dialog'), 0);

    // Block, after a confirmation; the other side's send is refused and nothing is stored.
    await bob.page.getByRole('button', { name: 'Details', exact: true }).click();
    await bob.page.getByRole('button', { name: 'Block', exact: true }).click();
    await bob.page
      .getByRole('group', { name: 'Block Alice?', exact: true })
      .getByRole('button', { name: 'Yes, block', exact: true })
      .click();
    await bob.page.getByRole('button', { name: 'Unblock', exact: true }).waitFor();
    expect((await bobApi.get('/blocks')).body.data.map((b: any) => b.userId)).toEqual([alice.id]);
    // Not the `send` helper: the refused message's pending copy may be gone before it could be seen.
    await messageBox(alice.page).fill('Are you ignoring me?');
    await alice.page.getByRole('button', { name: 'Send', exact: true }).click();
    await alice.page.getByRole('alert').filter({ hasText: 'Not sent' }).waitFor();
    expect(await stored()).toEqual(['Buy cheap watches']);

    await bob.page.getByRole('button', { name: 'Unblock', exact: true }).click();
    await bob.page.getByRole('button', { name: 'Block', exact: true }).waitFor();
    expect((await bobApi.get('/blocks')).body.data).toEqual([]);

    // A suspension shows at once, with its end and reason as text.
    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect((await admin.put(`/admin/suspensions/${bob.id}`, { until, reason: '<i>spamming</i>' })).status).toBe(200);
    const banner = bob.page.getByRole('alert').filter({ hasText: 'Your account is suspended until' });
    await banner.waitFor();
    expect(await banner.textContent()).toContain('Reason: <i>spamming</i>');
    expect(await banner.locator('time').getAttribute('datetime')).toBe(until);
    await screenshot(bob.page, 'suspended');
  });
});

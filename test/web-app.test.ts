import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  articles,
  BROWSER_TEST_MS,
  browserMissing,
  expectCount,
  messageBox,
  openRoomId,
  PHONE,
  roomLink,
  rooms,
  screenshot,
  send,
  signInOn,
  startChat,
  uid,
  unreadBadge,
  webAppSuite,
} from './helpers/browser.js';

/**
 * The web app at `/` in Chromium, two people in two browser contexts, through the contract's accessible names
 * ("Web app" in API.md). Uploads, going offline and hostile content: web-app-messages.test.ts.
 */

const TICKS = ['sending', 'sent', 'delivered', 'read'];

/** Every tick on the page, by its data-status. */
const ticksOn = (page: Page) => page.locator('[data-status]').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));

describe.skipIf(browserMissing)(`web app in Chromium${browserMissing ? ` (skipped: ${browserMissing})` : ''}`, () => {
  const web = webAppSuite();

  it('the contract names each control exactly, and no other control name contains them', { timeout: BROWSER_TEST_MS }, async () => {
    const page = await web.visit();
    // Substring matches (exact: false) must still find only the one control.
    await expectCount(page.getByRole('textbox', { name: 'User ID' }), 1);
    await expectCount(page.getByRole('button', { name: 'Sign in' }), 1);
    await screenshot(page, 'sign-in');

    await signInOn(page, uid('alice'), 'Alice');
    await expectCount(page.getByRole('navigation', { name: 'Rooms' }), 1);
    await expectCount(page.getByRole('button', { name: 'New chat' }), 1);
    await page.getByRole('button', { name: 'New chat', exact: true }).click();
    await expectCount(page.getByRole('textbox', { name: 'Participant' }), 1);
    await expectCount(page.getByRole('button', { name: 'Start' }), 1);
    await page.getByRole('textbox', { name: 'Participant', exact: true }).fill(uid('bob'));
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await messageBox(page).waitFor();
    await expectCount(page.getByRole('textbox', { name: 'Message' }), 1);
    await expectCount(page.getByRole('button', { name: 'Send' }), 1);
  });

  it(
    'a direct chat: the other person sees the room and its unread count live, then the messages',
    { timeout: BROWSER_TEST_MS },
    async () => {
      const [alice, bob] = await Promise.all([web.signIn(uid('alice'), 'Alice'), web.signIn(uid('bob'), 'Bob')]);
      await expectCount(roomLink(bob.page, 'Alice'), 0);

      await alice.page.getByRole('button', { name: 'New chat', exact: true }).click();
      await alice.page.getByRole('textbox', { name: 'Participant', exact: true }).fill(bob.id);
      await screenshot(alice.page, 'new-chat');
      await alice.page.getByRole('button', { name: 'Start', exact: true }).click();
      await messageBox(alice.page).waitFor();
      await send(alice.page, 'Hello Bob');

      // No reload anywhere below: the list is live.
      const entry = roomLink(bob.page, 'Alice');
      await unreadBadge(entry, 1).waitFor();
      await send(alice.page, 'Are you there?');
      await unreadBadge(entry, 2).waitFor();
      await expectCount(unreadBadge(entry), 1);
      await expect(entry.textContent()).resolves.toContain('Are you there?');
      // Her own messages are nothing she has to read.
      await roomLink(alice.page, 'Bob').waitFor();
      await expectCount(unreadBadge(roomLink(alice.page, 'Bob')), 0);
      await screenshot(bob.page, 'rooms');

      await entry.click();
      for (const text of ['Hello Bob', 'Are you there?']) await articles(bob.page, text).filter({ hasText: 'Alice' }).waitFor();
      await expectCount(articles(bob.page), 2);
      await unreadBadge(entry).waitFor({ state: 'detached' });
      await send(bob.page, 'Yes, here!');
      await articles(alice.page, 'Yes, here!').filter({ hasText: 'Bob' }).waitFor();
      // A reply arriving in the room she has open is read at once: no count for it.
      await unreadBadge(roomLink(alice.page, 'Bob')).waitFor({ state: 'detached' });
      await screenshot(alice.page, 'room');

      await alice.page.setViewportSize(PHONE);
      await messageBox(alice.page).waitFor();
      await articles(alice.page, 'Yes, here!').waitFor();
      await screenshot(alice.page, 'room-phone');
    },
  );

  it('shows who is typing, and clears it when they send or stop', { timeout: BROWSER_TEST_MS }, async () => {
    const [alice, bob] = await Promise.all([web.signIn(uid('alice'), 'Alice'), web.signIn(uid('bob'), 'Bob')]);
    await startChat(alice.page, bob.id);
    await send(alice.page, 'Ping');
    await roomLink(bob.page, 'Alice').click();
    await articles(bob.page, 'Ping').waitFor();

    const typing = alice.page.getByText(/typing/);
    await expectCount(typing, 0);
    await messageBox(bob.page).pressSequentially('On my way');
    await alice.page.getByText(/Bob is typing/).waitFor();
    await bob.page.getByRole('button', { name: 'Send', exact: true }).click();
    await articles(alice.page, 'On my way').waitFor();
    await typing.waitFor({ state: 'hidden' });

    await messageBox(bob.page).pressSequentially('Actually');
    await typing.waitFor();
    await messageBox(bob.page).blur();
    await typing.waitFor({ state: 'hidden' });
  });

  it('ticks go sending → sent → delivered → read', { timeout: BROWSER_TEST_MS }, async () => {
    const alice = await web.signIn(uid('alice'), 'Alice');
    const bobId = uid('bob');
    await startChat(alice.page, bobId);

    // The store holds the first send until released: meanwhile it is pending on screen.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    await alice.page.route('**/api/v1/chat/rooms/*/messages', async (route) => {
      if (route.request().method() === 'POST') await released;
      await route.fallback();
    });
    const first = await send(alice.page, 'First tick');
    await first.locator('[data-status="sending"]').waitFor();
    release();
    // Bob has never opened the app: stored, not delivered.
    await first.locator('[data-status="sent"]').waitFor();

    const bob = await web.signIn(bobId, 'Bob');
    await roomLink(bob.page, 'Alice').waitFor();
    const second = await send(alice.page, 'Second tick');
    // Bob's app has it (it acknowledged the new message) but he has not opened the room.
    await second.locator('[data-status="delivered"]').waitFor();
    await first.locator('[data-status="delivered"]').waitFor();
    await expectCount(alice.page.locator('[data-status="read"]'), 0);

    await roomLink(bob.page, 'Alice').click();
    await articles(bob.page, 'Second tick').waitFor();
    await second.locator('[data-status="read"]').waitFor();
    await first.locator('[data-status="read"]').waitFor();

    // One tick per own message, from the one vocabulary; the other person's messages carry none.
    const ticks = await ticksOn(alice.page);
    expect(ticks).toEqual(['read', 'read']);
    for (const t of ticks) expect(TICKS).toContain(t);
    await expectCount(bob.page.locator('[data-status]'), 0);
  });

  it('a reload keeps the session, the room and its messages; Start opens the same room again', { timeout: BROWSER_TEST_MS }, async () => {
    const [alice, bob] = await Promise.all([web.signIn(uid('alice'), 'Alice'), web.signIn(uid('bob'), 'Bob')]);
    await startChat(alice.page, bob.id);
    const roomId = openRoomId(alice.page);
    await send(alice.page, 'Before the reload');
    await unreadBadge(roomLink(bob.page, 'Alice'), 1).waitFor();

    await alice.page.reload();
    await rooms(alice.page).waitFor();
    await expectCount(alice.page.getByRole('textbox', { name: 'User ID', exact: true }), 0);
    await articles(alice.page, 'Before the reload').filter({ hasText: 'Alice' }).waitFor();
    expect(openRoomId(alice.page)).toBe(roomId);
    await expectCount(roomLink(alice.page, 'Bob'), 1);

    // The unread count is the service's, not the page's.
    await bob.page.reload();
    await unreadBadge(roomLink(bob.page, 'Alice'), 1).waitFor();
    await roomLink(bob.page, 'Alice').click();
    await articles(bob.page, 'Before the reload').waitFor();

    // Away from the room, then "Start" with the same person: the pair's room, not a second one.
    await alice.page.evaluate("location.hash = '#/'");
    await messageBox(alice.page).waitFor({ state: 'detached' });
    await startChat(alice.page, bob.id);
    expect(openRoomId(alice.page)).toBe(roomId);
    await articles(alice.page, 'Before the reload').waitFor();
    await expectCount(roomLink(alice.page, 'Bob'), 1);
    await expectCount(rooms(alice.page).getByRole('link'), 1);
  });

  it('Sign out returns to the sign-in form; without a name the app shows the user id', { timeout: BROWSER_TEST_MS }, async () => {
    const [alice, bob] = await Promise.all([web.signIn(uid('alice'), 'Alice'), web.signIn(uid('bob'), 'Bob')]);
    await startChat(alice.page, bob.id);
    await expectCount(roomLink(alice.page, 'Bob'), 1);

    await alice.page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await alice.page.getByRole('textbox', { name: 'User ID', exact: true }).waitFor();
    await expectCount(rooms(alice.page), 0);
    // Signed out for good: a reload does not bring the session back.
    await alice.page.reload();
    await alice.page.getByRole('textbox', { name: 'User ID', exact: true }).waitFor();
    await expectCount(rooms(alice.page), 0);

    // Someone else on the same browser, no name given: none of Alice's rooms, and their id stands for their name.
    const carolId = uid('carol');
    await signInOn(alice.page, carolId);
    await expectCount(roomLink(alice.page, 'Bob'), 0);
    await startChat(alice.page, bob.id);
    const mine = await send(alice.page, 'Nameless hello');
    await mine.getByText(carolId, { exact: true }).waitFor();

    const entry = roomLink(bob.page, carolId);
    await unreadBadge(entry, 1).waitFor();
    await entry.click();
    await articles(bob.page, 'Nameless hello').getByText(carolId, { exact: true }).waitFor();
  });
});

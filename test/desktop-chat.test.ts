import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { addContact, DesktopWorld, myContactCode, onboard, unlock, type DesktopRig } from './desktop-support.ts';

/*
 * End to end: direct messages in the desktop renderer (Debian's Chromium), two users each with
 * their own web host and profile against one signaling server. They chat both ways until the
 * status says "read", a hostile message renders inert, a file picked in the browser (uploaded to
 * the host, then sent peer to peer) arrives with the same hash, and after a restart the history
 * and the transfer are there.
 * Screenshots go to artifacts/screenshots/ (20-*); an error overlay or page error fails the test.
 */

const PASS_ALICE = 'alice chat correct horse battery';
const PASS_BOB = 'bob chat staple lantern orchard';
const HOSTILE = '<img src=x onerror="window.__pwned=1"> [click](javascript:window.__pwned=2) javascript:window.__pwned=3 **bold** https://example.org/x';

let world: DesktopWorld;
let browser: Browser;
let rig: DesktopRig;

async function openConversation(page: Page, contactName: string): Promise<void> {
  await page.getByRole('button', { name: 'Messages', exact: true }).click();
  await page.locator('[data-screen=messages]').waitFor();
  await page.getByRole('option', { name: new RegExp(contactName) }).click();
  await page.locator('[data-screen=conversation]').waitFor();
}

async function send(page: Page, contactName: string, text: string): Promise<void> {
  const composer = page.getByRole('textbox', { name: `Message ${contactName}` });
  await composer.fill(text);
  await composer.press('Enter');
  await expect.poll(() => composer.inputValue()).toBe('');
}

/** The last message in the log whose own text (not a quote of it) contains `text`. */
function messageWith(page: Page, text: string) {
  return page.locator('[data-screen=conversation] article').filter({ has: page.getByTestId('message-text').filter({ hasText: text }) }).last();
}

beforeAll(async () => {
  world = await DesktopWorld.start('desktop-chat');
  ({ browser, rig } = world);
}, 120_000);

afterAll(async () => {
  await world?.stop();
}, 120_000);

describe('direct messages in the desktop renderer', () => {
  it('two users chat both ways until "read", a hostile message stays inert, and history survives a restart', async () => {
    const aliceHost = await rig.startHost('alice');
    await rig.startHost('bob');
    const aliceContext = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const bobContext = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const alice = await rig.openPage(aliceContext, aliceHost.url);
    let bob = await rig.openPage(bobContext, rig.hosts.get('bob')!.url);
    await onboard(alice, 'Alice', PASS_ALICE);
    await onboard(bob, 'Bob', PASS_BOB);
    const aliceCode = await myContactCode(alice);
    const bobCode = await myContactCode(bob);
    await addContact(alice, bobCode, 'Bob');
    await addContact(bob, aliceCode, 'Alice');
    await alice.getByRole('option', { name: /Bob/ }).getByRole('img', { name: 'Online' }).waitFor();
    await bob.getByRole('option', { name: /Alice/ }).getByRole('img', { name: 'Online' }).waitFor();

    // Alice writes first; Bob, on another screen, sees an unread count.
    await openConversation(alice, 'Bob');
    await send(alice, 'Bob', 'Hello **Bob**, see https://example.org/docs');
    const first = messageWith(alice, 'Hello');
    expect(await first.locator('strong').textContent()).toBe('Bob');
    await bob.getByRole('button', { name: 'Messages', exact: true }).click();
    await bob.getByTestId('unread-count').waitFor();
    expect(await bob.getByTestId('unread-count').textContent()).toBe('1');
    await rig.shot(bob, '20-messages-unread');

    // Bob opens the conversation (visible and focused): read receipts go out, and Alice sees "read".
    await bob.getByRole('option', { name: /Alice/ }).click();
    await messageWith(bob, 'Hello').waitFor();
    await expect.poll(() => first.getByTestId('message-status').getAttribute('data-status'), { timeout: 120_000 }).toBe('read');
    await bob.getByTestId('unread-count').waitFor({ state: 'detached' });

    // Bob types (Alice sees it) and answers; his message reaches "read" too.
    await bob.getByRole('textbox', { name: 'Message Alice' }).pressSequentially('Hi');
    await expect.poll(() => alice.getByTestId('typing-indicator').textContent(), { timeout: 120_000 }).toBe('Bob is typing…');
    await bob.getByRole('textbox', { name: 'Message Alice' }).fill('Hi Alice, `code` and *style*');
    await bob.getByRole('textbox', { name: 'Message Alice' }).press('Enter');
    const answer = messageWith(bob, 'Hi Alice');
    await messageWith(alice, 'Hi Alice').waitFor();
    expect(await messageWith(alice, 'Hi Alice').locator('code').textContent()).toBe('code');
    await expect.poll(() => answer.getByTestId('message-status').getAttribute('data-status'), { timeout: 120_000 }).toBe('read');
    await rig.shot(alice, '21-conversation');

    // A hostile message is shown as text: no element, no script link, nothing ran.
    await send(alice, 'Bob', HOSTILE);
    const hostile = messageWith(bob, 'onerror');
    await hostile.waitFor();
    expect(await hostile.getByTestId('message-text').textContent()).toContain('<img src=x onerror="window.__pwned=1">');
    expect(await hostile.locator('img').count()).toBe(0);
    expect(await hostile.locator('strong').textContent()).toBe('bold');
    expect(await hostile.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href')))).toEqual(['https://example.org/x']);
    expect(await bob.locator('a[href^="javascript:"]').count()).toBe(0);
    expect(await bob.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await alice.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    await rig.shot(bob, '22-hostile-message');

    // Replies, reactions and edits travel too.
    await messageWith(bob, 'onerror').getByRole('button', { name: 'React' }).click();
    await bob.getByRole('button', { name: 'React with 👍' }).click();
    await messageWith(alice, 'onerror').getByRole('button', { name: /^👍 1/ }).waitFor();
    await messageWith(alice, 'Hi Alice').getByRole('button', { name: 'Reply' }).click();
    await send(alice, 'Bob', 'a reply');
    await messageWith(bob, 'a reply').getByTestId('reply-quote').waitFor();
    expect(await messageWith(bob, 'a reply').getByTestId('reply-quote').textContent()).toContain('Hi Alice');

    // A file picked in Alice's browser: uploaded to her host, offered, accepted by Bob, 100% on both sides, same bytes.
    const payload = randomBytes(3 * 1024 * 1024 + 123);
    await alice.getByRole('button', { name: 'Transfers', exact: true }).click();
    await alice.locator('[data-screen=transfers]').waitFor();
    await expect.poll(() => alice.getByLabel('Send to', { exact: true }).inputValue()).not.toBe('');
    await alice.locator('#file-picker').setInputFiles({ name: 'payload.bin', mimeType: 'application/octet-stream', buffer: payload });
    const outgoing = alice.locator('[data-screen=transfers] li[data-direction=out]', { hasText: 'payload.bin' });
    await outgoing.waitFor();
    await bob.getByRole('button', { name: 'Transfers', exact: true }).click();
    const incoming = bob.locator('[data-screen=transfers] li[data-direction=in]', { hasText: 'payload.bin' });
    await incoming.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => incoming.getAttribute('data-state'), { timeout: 240_000 }).toBe('completed');
    expect(await incoming.getByTestId('transfer-percent').textContent()).toBe('100%');
    await expect.poll(() => outgoing.getByTestId('transfer-percent').textContent(), { timeout: 120_000 }).toBe('100%');
    const saved = (await incoming.getByTestId('transfer-path').textContent())!.trim();
    expect(createHash('sha256').update(await readFile(saved)).digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    await rig.shot(bob, '24-transfers');

    // Restart Bob's host: after unlocking, the history is there (and still inert).
    await rig.stopHost('bob');
    const restarted = await rig.startHost('bob');
    await bob.close();
    bob = await rig.openPage(bobContext, restarted.url);
    await unlock(bob, PASS_BOB);
    await openConversation(bob, 'Alice');
    for (const text of ['Hello', 'Hi Alice', 'onerror', 'a reply']) await messageWith(bob, text).waitFor();
    expect(await messageWith(bob, 'onerror').locator('img').count()).toBe(0);
    expect(await messageWith(bob, 'Hi Alice').getByTestId('message-status').getAttribute('data-status')).toBe('read');
    await rig.shot(bob, '23-history-after-restart');
    await bob.getByRole('button', { name: 'Transfers', exact: true }).click();
    const after = bob.locator('[data-screen=transfers] li[data-direction=in]', { hasText: 'payload.bin' });
    expect(await after.getAttribute('data-state')).toBe('completed');
    expect((await after.getByTestId('transfer-path').textContent())!.trim()).toBe(saved);
    expect(rig.pageErrors).toEqual([]);
  }, 900_000);
});

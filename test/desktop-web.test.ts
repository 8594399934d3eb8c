import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { userIdFromPublicKey } from '@discordopus/sdk';
import { addContact, DesktopWorld, myContactCode, onboard, type DesktopRig } from './desktop-support.ts';

/*
 * End to end: the desktop renderer in Debian's Chromium, each user with their own web host
 * process (`npm run start:web`'s entry) and profile, against one signaling server. Screenshots of
 * each main screen go to artifacts/screenshots/; a screen with an error overlay or an uncaught
 * page error fails the test.
 */

const PASS_ALICE = 'alice correct horse battery';
const PASS_BOB = 'bob staple lantern orchard';

let world: DesktopWorld;
let browser: Browser;
let rig: DesktopRig;
const startHost = (profile: string) => rig.startHost(profile, ['--plugin-dir', 'host-electron/test-fixtures/plugins']);
const openPage = (context: BrowserContext, url: string) => rig.openPage(context, url);
const shot = (page: Page, name: string) => rig.shot(page, name);

/** Onboarding, after checking the strength meter rates a short passphrase "very weak". */
async function onboardChecked(page: Page, name: string, passphrase: string): Promise<string> {
  await page.locator('[data-screen=onboarding]').waitFor();
  await page.getByLabel('Passphrase', { exact: true }).fill('abc');
  await expect.poll(() => page.getByTestId('strength-label').textContent()).toContain('very weak');
  return onboard(page, name, passphrase);
}

async function safetyDigits(page: Page, contactName: string): Promise<string> {
  await page.getByRole('option', { name: new RegExp(contactName) }).click();
  const digits = page.getByTestId('safety-digits');
  await digits.waitFor();
  await page.locator('img[alt^="Safety number as a QR code"]').waitFor();
  return (await digits.getAttribute('data-digits'))!;
}

beforeAll(async () => {
  world = await DesktopWorld.start('desktop-web');
  ({ browser, rig } = world);
}, 120_000);

afterAll(async () => {
  await world?.stop();
}, 120_000);

describe('desktop renderer in Chromium against two web hosts', () => {
  it('onboards two users who add each other, compare safety numbers, verify, and find their contacts after a restart', async () => {
    // Started one after the other: the first builds the renderer if it is stale.
    const aliceHost = await startHost('alice');
    await startHost('bob');
    const aliceContext = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const bobContext = await browser.newContext({ viewport: { width: 1200, height: 800 } });

    let alice = await openPage(aliceContext, aliceHost.url);
    await alice.locator('[data-screen=onboarding]').waitFor();
    await shot(alice, '01-onboarding');
    const aliceId = await onboardChecked(alice, 'Alice', PASS_ALICE);
    const bob = await openPage(bobContext, rig.hosts.get('bob')!.url);
    const bobId = await onboardChecked(bob, 'Bob', PASS_BOB);
    expect(aliceId).toMatch(/^do1[a-z0-9]{32}$/);
    expect(bobId).not.toBe(aliceId);
    await shot(alice, '02-contacts-empty');

    // A mistyped ID is explained as it is typed and cannot be added.
    const typo = bobId.slice(0, 20) + (bobId[20] === 'q' ? 'p' : 'q') + bobId.slice(21);
    await alice.getByLabel('User ID or pasted QR code').fill(typo);
    await expect.poll(() => alice.getByTestId('contact-id-hint').textContent()).toMatch(/Checksum mismatch/);
    await expect.poll(() => alice.getByRole('button', { name: 'Add contact' }).isDisabled()).toBe(true);
    await shot(alice, '03-add-contact-checksum-error');

    // By bare ID: the contact is added; its safety number waits for its key.
    const carolId = userIdFromPublicKey(new Uint8Array(32).fill(9));
    await addContact(alice, carolId, 'Carol');
    await alice.getByRole('option', { name: /Carol/ }).click();
    await expect.poll(() => alice.locator('[data-screen=contact-detail] [role=alert]').first().textContent()).toMatch(/not known yet/);

    // By each other's contact code (what the QR code holds): ID and identity key.
    const aliceCode = await myContactCode(alice);
    const bobCode = await myContactCode(bob);
    await addContact(alice, bobCode, 'Bob');
    await addContact(bob, aliceCode, 'Alice');

    // Both are connected to the same signaling server, and each watches the other's presence.
    await alice.getByRole('option', { name: /Bob/ }).getByRole('img', { name: 'Online' }).waitFor();
    await bob.getByRole('option', { name: /Alice/ }).getByRole('img', { name: 'Online' }).waitFor();

    const aliceSees = await safetyDigits(alice, 'Bob');
    const bobSees = await safetyDigits(bob, 'Alice');
    expect(aliceSees).toMatch(/^\d{60}$/);
    expect(bobSees).toBe(aliceSees);
    expect((await alice.getByTestId('safety-digits').locator('li').allTextContents()).join('')).toBe(aliceSees);
    await shot(alice, '04-safety-number');

    await alice.getByRole('button', { name: 'Mark verified' }).click();
    await bob.getByRole('button', { name: 'Mark verified' }).click();
    await alice.getByTestId('verified-badge').waitFor();
    await bob.getByTestId('verified-badge').waitFor();
    await shot(bob, '05-contact-verified');

    await alice.getByRole('button', { name: 'Settings' }).click();
    await alice.locator('[data-screen=settings]').waitFor();
    await shot(alice, '06-settings');
    expect(await alice.locator('tr', { hasText: 'Desk demo' }).textContent()).toContain('third party');

    // A third-party plugin's sidebar view and command come through the contribution points.
    await alice.getByRole('button', { name: 'Demo board from the desk-demo plugin' }).click();
    const board = alice.locator('[data-view-id="desk-demo.board"]');
    await board.locator('dl').waitFor();
    expect(await board.textContent()).toContain('<img src=x onerror="window.__pwned=1">');
    expect(await board.locator('dd').first().textContent()).toBe('0');
    await alice.keyboard.press('Control+K');
    await alice.getByRole('dialog', { name: 'Command palette' }).waitFor();
    await alice.getByRole('combobox').fill('count');
    await shot(alice, '07-command-palette');
    await alice.keyboard.press('Enter');
    await alice.getByRole('dialog', { name: 'Command palette' }).waitFor({ state: 'detached' });
    await board.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => board.locator('dd').first().textContent()).toBe('1');
    expect(await alice.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    await shot(alice, '08-plugin-view');
    await alice.keyboard.press('Control+K');
    await alice.getByRole('combobox').fill('show contacts');
    await alice.keyboard.press('Enter');
    await alice.locator('[data-screen=contacts]').waitFor();

    // Lock, then a wrong passphrase: a clear message, and the field is ready for a retry.
    await alice.getByRole('button', { name: 'Lock' }).click();
    await alice.locator('[data-screen=unlock]').waitFor();
    await alice.getByLabel('Passphrase').fill('not my passphrase');
    await alice.getByRole('button', { name: 'Unlock' }).click();
    const alert = alice.locator('#unlock-error');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/passphrase/i);
    await shot(alice, '09-unlock-wrong-passphrase');

    // Restart Alice's host: a new address (new token); her contacts are still there after unlocking.
    await rig.stopHost('alice');
    await alice.getByText('The connection to the app host was lost').waitFor();
    await bob.getByRole('option', { name: /Alice/ }).getByRole('img', { name: 'Offline' }).waitFor();
    const restarted = await startHost('alice');
    expect(restarted.url).not.toBe(aliceHost.url);
    await alice.close();
    alice = await openPage(aliceContext, restarted.url);
    await alice.locator('[data-screen=unlock]').waitFor();
    await alice.getByLabel('Passphrase').fill(PASS_ALICE);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.locator('[data-screen=shell]').waitFor();
    expect((await alice.getByTestId('my-user-id').textContent())!.trim()).toBe(aliceId);
    await alice.getByRole('option', { name: /Bob/ }).waitFor();
    await alice.getByRole('option', { name: /Carol/ }).waitFor();
    await bob.getByRole('option', { name: /Alice/ }).getByRole('img', { name: 'Online' }).waitFor();
    expect(await alice.getByRole('option', { name: /Bob/ }).getByLabel('Verified').count()).toBe(1);
    expect(await safetyDigits(alice, 'Bob')).toBe(aliceSees);
    await shot(alice, '10-after-restart');
    expect(rig.pageErrors).toEqual([]);
  }, 600_000);
});

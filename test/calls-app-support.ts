import { chromium, type Browser, type Page } from 'playwright-core';
import type { CreateCallsPluginOptions } from '../plugins/calls/src/index.ts';
import type { CallPeer, CallWorld } from './calls-support.ts';
import { CHROMIUM, CHROMIUM_MEDIA_ARGS } from './calls-renderer-support.ts';
import { addContact, DesktopRig, onboard } from './desktop-support.ts';

/**
 * The desktop app in web mode (profile "alice": its web host, its renderer in Chromium with fake
 * camera and microphone) and a headless client "bob" with the calls plugin, contacts of each
 * other through the world's server: what the app-level call tests start from.
 */
export class AppCallRig {
  private constructor(
    readonly desktop: DesktopRig,
    readonly browser: Browser,
    readonly alice: Page,
    readonly aliceId: string,
    readonly bob: CallPeer,
  ) {}

  static async start(world: CallWorld, bobOptions: CreateCallsPluginOptions, chromiumArgs: string[] = CHROMIUM_MEDIA_ARGS): Promise<AppCallRig> {
    const bob = await world.peer('bob', bobOptions);
    const desktop = new DesktopRig(world.file('home'), () => world.relay.url);
    const host = await desktop.startHost('alice');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs });
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const alice = await desktop.openPage(context, host.url);
    const aliceId = await onboard(alice, 'Alice', 'alice correct horse battery', host);
    await addContact(alice, bob.id, 'Bob');
    await bob.client.contacts.add(aliceId as never, { name: 'Alice' });
    return new AppCallRig(desktop, browser, alice, aliceId, bob);
  }

  /** Ends every call still up (a failed step's), on both sides, so the next test can call. */
  async endCalls(): Promise<void> {
    for (const view of this.bob.calls.calls()) {
      if (view.state !== 'ended') await this.bob.calls.hangUp(view.callId).catch(() => undefined);
    }
    await this.bob.calls.whenIdle();
    await this.alice.getByTestId('call-view').waitFor({ state: 'detached', timeout: 30_000 }).catch(() => undefined);
    await this.alice.getByRole('alertdialog').waitFor({ state: 'detached', timeout: 30_000 }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.browser.close();
    await this.desktop.stopAll();
  }
}

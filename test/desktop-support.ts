import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import pino from 'pino';
import { createSignalingServer, type SignalingServer } from '@discordopus/server';

/*
 * Helpers for the desktop end-to-end tests: web host processes (`npm run start:web`'s entry),
 * pages that record uncaught errors, screenshots that fail on an error overlay, onboarding.
 */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const SHOTS = path.join(ROOT, 'artifacts', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const STEP = 120_000;

export interface Host {
  process: ChildProcess;
  url: string;
  stderr: string[];
}

/** Web hosts by profile name, and the page errors seen so far. */
export class DesktopRig {
  readonly hosts = new Map<string, Host>();
  readonly pageErrors: string[] = [];

  constructor(private readonly home: string, private readonly serverUrl: () => string) {}

  /** Starts a web host for a profile; `args` go to start-web after the profile and server. */
  startHost(profile: string, args: string[] = []): Promise<Host> {
    const child = spawn(
      path.join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['--tsconfig', 'host-electron/tsconfig.run.json', 'host-electron/src/node/start-web.ts', '--profile', profile, '--server', this.serverUrl(), ...args],
      { cwd: ROOT, env: { ...process.env, DISCORDOPUS_HOME: this.home, HOME: this.home, DISCORDOPUS_PEER_LINKS: 'loopback' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`web host ${profile} exited with ${code}:\n${stderr.join('\n')}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        // The address is printed alone on its line.
        if (/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]+$/.test(line)) {
          const host = { process: child, url: line, stderr };
          this.hosts.set(profile, host);
          resolve(host);
        }
      });
    });
  }

  async stopHost(profile: string): Promise<void> {
    const host = this.hosts.get(profile);
    if (!host) return;
    this.hosts.delete(profile);
    if (host.process.exitCode !== null) return;
    const exited = new Promise((resolve) => host.process.once('exit', resolve));
    host.process.kill('SIGTERM');
    await exited;
  }

  async stopAll(): Promise<void> {
    for (const profile of [...this.hosts.keys()]) await this.stopHost(profile);
  }

  async openPage(context: BrowserContext, url: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (error) => this.pageErrors.push(`${page.url()}: ${error.message}`));
    page.setDefaultTimeout(STEP);
    await page.goto(url);
    return page;
  }

  /** Writes a screenshot, after checking the screen shows no error overlay and no page error happened. */
  async shot(page: Page, name: string): Promise<void> {
    expect(await page.locator('vite-error-overlay').count(), `error overlay on ${name}`).toBe(0);
    expect(this.pageErrors, `uncaught page errors before ${name}`).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }
}

/** What a desktop e2e test starts from: a signaling server on 127.0.0.1, web hosts with a fresh home folder, and Chromium. */
export class DesktopWorld {
  private constructor(readonly home: string, readonly signaling: SignalingServer, readonly rig: DesktopRig, readonly browser: Browser) {}

  static async start(name: string): Promise<DesktopWorld> {
    const home = await mkdtemp(path.join(os.tmpdir(), `${name}-`));
    await mkdir(SHOTS, { recursive: true });
    const signaling = await createSignalingServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), processMetrics: false });
    try {
      const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      return new DesktopWorld(home, signaling, new DesktopRig(home, () => signaling.url), browser);
    } catch (error) {
      await signaling.close();
      await rm(home, { recursive: true, force: true });
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.browser.close();
    await this.rig.stopAll();
    await this.signaling.close();
    await rm(this.home, { recursive: true, force: true });
  }
}

/** Creates an identity on the first-run screen; returns the user ID the shell shows. */
export async function onboard(page: Page, name: string, passphrase: string, host?: Host): Promise<string> {
  await page.locator('[data-screen=onboarding]').waitFor();
  await page.getByLabel('Display name').fill(name);
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase);
  await page.getByLabel('Repeat passphrase').fill(passphrase);
  await page.getByRole('button', { name: 'Create identity' }).last().click();
  await page.locator('[data-screen=shell]').waitFor().catch(async (error: Error) => {
    const shown = await page.locator('body').innerText({ timeout: 5_000 }).catch(() => '?');
    throw new Error(`Onboarding did not reach the shell. The page shows:\n${shown.slice(0, 1000)}\nHost log:\n${host?.stderr.slice(-20).join('\n') ?? '(not given)'}`, { cause: error });
  });
  return (await page.getByTestId('my-user-id').textContent())!.trim();
}

export async function myContactCode(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'My code' }).click();
  const code = page.getByTestId('my-contact-payload');
  await expect.poll(() => code.inputValue()).toContain('key=');
  return code.inputValue();
}

export async function addContact(page: Page, text: string, name: string): Promise<void> {
  await page.getByLabel('User ID or pasted QR code').fill(text);
  await page.getByLabel('Name (optional)').fill(name);
  await page.getByRole('button', { name: 'Add contact' }).click();
  await page.getByRole('option', { name: new RegExp(name) }).waitFor();
}

export async function unlock(page: Page, passphrase: string): Promise<void> {
  await page.locator('[data-screen=unlock]').waitFor();
  await page.getByLabel('Passphrase').fill(passphrase);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await page.locator('[data-screen=shell]').waitFor();
}

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '../core/src/node/client/create-client.ts';
import { firstPartyPlugins } from '../core/src/node/client/first-party-plugins.ts';
import { TEST_PROFILE_KDF } from '../core/src/node/client/test-profiles.ts';
import type { UserId } from '@discordopus/sdk';

/*
 * Profiles for the tests that drive the `discordopus` CLI in child processes: made and joined as
 * contacts in this process (cheap KDF, no server), then handed to the CLI by folder.
 */

/** The CLI's bin, run with `process.execPath`. */
export const CLI_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../core/bin/discordopus.js');

export interface CliProfile {
  name: string;
  dir: string;
  userId: UserId;
}

/** Creates the profile `parentDir/name` with a new identity named `name`. */
export async function makeCliProfile(parentDir: string, name: string, passphrase: string): Promise<CliProfile> {
  const dir = path.join(parentDir, name);
  const client = await createClient({ profileDir: dir, passphrase, create: true, profileKdf: TEST_PROFILE_KDF, displayName: name, plugins: firstPartyPlugins() });
  const userId = client.identity.userId;
  await client.close();
  return { name, dir, userId };
}

/** Adds `b` to `a`'s contacts under `b`'s name. */
export async function befriendCliProfiles(a: CliProfile, b: CliProfile, passphrase: string): Promise<void> {
  const client = await createClient({ profileDir: a.dir, passphrase });
  try {
    await client.contacts.add(b.userId, { name: b.name });
  } finally {
    await client.close();
  }
}

/** Two profiles, `alice` and `bob` under `parentDir`, each in the other's contacts. */
export async function makeFriendProfiles(parentDir: string, passphrase: string): Promise<[CliProfile, CliProfile]> {
  const [alice, bob] = await Promise.all([makeCliProfile(parentDir, 'alice', passphrase), makeCliProfile(parentDir, 'bob', passphrase)]);
  await Promise.all([befriendCliProfiles(alice, bob, passphrase), befriendCliProfiles(bob, alice, passphrase)]);
  return [alice, bob];
}

/**
 * The environment of a CLI child: this process's without the caller's own `DISCORDOPUS_*` and
 * `DEBUG`, plus the passphrase, the server, and peer links that stay on 127.0.0.1.
 */
export function cliEnv(passphrase: string, serverUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of Object.keys(base)) if (name.startsWith('DISCORDOPUS_') || name === 'DEBUG') delete base[name];
  return { ...base, DISCORDOPUS_PASSPHRASE: passphrase, DISCORDOPUS_SERVER: serverUrl, DISCORDOPUS_PEER_LINKS: 'loopback', ...extra };
}

/*
 * The CLI end to end, each client its own process: a signaling server process, bob running
 * `listen --answer-calls --record`, alice running `call --video --record --duration`. Both
 * recordings must decode (ffprobe) with audio and video frames.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../core/src/node/client/test-profiles.ts';
import { BUILT_IN_CLIP } from '../plugins/calls/src/index.ts';
import { cliEnv, makeFriendProfiles, type CliProfile } from './cli-profiles.ts';
import { CliListener } from './cli-listen.ts';
import { startServerProcess, type ServerProcess } from './server-support.ts';
import { probeFrames } from './calls-support.ts';

const temp = tempDir('discordopus-calls-cli-');
const PASS = 'calls cli passphrase';
const LONG = 180_000;

type Profile = CliProfile;

let server: ServerProcess;
let alice: Profile;
let bob: Profile;
const children = new Set<ChildProcess>();

function env(): NodeJS.ProcessEnv {
  return cliEnv(PASS, server.url);
}

/** A running CLI process; with --json every stdout line must be a JSON object. */
function start(profile: Profile, args: string[]): CliListener {
  return CliListener.spawn(['--profile', profile.dir, ...args], { env: env(), children, strict: args.includes('--json') });
}



beforeAll(async () => {
  server = await startServerProcess();
  [alice, bob] = await makeFriendProfiles(temp.dir, PASS);
}, LONG);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await server?.stop();
  temp.cleanup();
});

describe('discordopus call / listen --answer-calls', () => {
  it('calls a listening bot with video; both sides record media that decodes', async () => {
    const bobRecords = path.join(temp.dir, 'bob-{callId}.webm');
    const aliceRecords = path.join(temp.dir, 'alice.webm');
    const bobListens = start(bob, ['--json', 'listen', '--answer-calls', '--record', bobRecords]);
    await bobListens.until('bob to be online', (events) => events.some((e) => e.type === 'ready'));

    const call = start(alice, ['--json', 'call', 'bob', '--video', '--send', BUILT_IN_CLIP, '--record', aliceRecords, '--duration', '4']);
    const code = await call.exited;
    expect(code, call.stderr).toBe(0);
    const final = call.events.at(-1)!;
    expect(final).toMatchObject({ type: 'call', state: 'ended', endReason: 'hangup', peer: bob.userId, recording: aliceRecords });
    expect(final.durationS).toBeGreaterThanOrEqual(3);
    expect(call.events.map((l) => l.state)).toEqual(expect.arrayContaining(['ringing', 'connecting', 'active', 'ended']));

    await bobListens.until('bob to see the hang-up', (events) => events.some((e) => e.type === 'call' && e.state === 'ended'));
    const callId = final.callId as string;
    expect(bobListens.events.filter((e) => e.type === 'call' && e.callId === callId).map((e) => e.state)).toEqual(expect.arrayContaining(['ringing', 'connecting', 'active', 'ended']));
    bobListens.child.kill('SIGTERM');
    expect(await bobListens.exited).toBe(0);

    const bobFile = bobRecords.replace('{callId}', callId);
    expect(existsSync(bobFile)).toBe(true);
    for (const file of [aliceRecords, bobFile]) {
      const frames = await probeFrames(file);
      expect(frames.video, `${file} video`).toBeGreaterThan(0);
      expect(frames.audio, `${file} audio`).toBeGreaterThan(0);
    }
  }, LONG);

  it('fails with a clear error when the contact is offline, and for bad options', async () => {
    // Bob stopped listening: the invite cannot be delivered, so nothing rings.
    const offline = start(alice, ['call', 'bob', '--ring-timeout', '2']);
    expect(await offline.exited).not.toBe(0);
    expect(offline.stderr).toMatch(/Could not ring bob/);

    const bad = start(alice, ['call', 'bob', '--send', path.join(temp.dir, 'missing.webm')]);
    expect(await bad.exited).not.toBe(0);
    expect(bad.stderr).toMatch(/Cannot read the media file/);

    const usage = start(alice, ['call', 'bob', '--duration', 'soon']);
    expect(await usage.exited).toBe(2);
    expect(usage.stderr).toMatch(/--duration expects a number of seconds/);
  }, LONG);
});

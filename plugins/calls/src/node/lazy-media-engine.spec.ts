import { describe, expect, it } from 'vitest';
import type { MediaEngine, MediaSession, MediaSessionOptions } from '../common/media-engine.ts';
import { LazyMediaEngine } from './lazy-media-engine.ts';

const OPTIONS: MediaSessionOptions = { callId: '0123456789abcdef0123456789abcdef', role: 'offerer', audio: true, video: false, iceServers: [], loopbackOnly: true };

/** An engine whose sessions carry only their options: what the wrapper must pass through. */
class EchoEngine implements MediaEngine {
  readonly name = 'echo';
  readonly opened: MediaSessionOptions[] = [];
  async createSession(options: MediaSessionOptions): Promise<MediaSession> {
    if (options.callId === 'f'.repeat(32)) throw new Error('echo: this call fails');
    this.opened.push(options);
    return { callId: options.callId, role: options.role } as MediaSession;
  }
}

describe('LazyMediaEngine', () => {
  it('loads the engine on the first session only, once, even for concurrent sessions', async () => {
    const engine = new EchoEngine();
    let loads = 0;
    const lazy = new LazyMediaEngine('echo', async () => {
      loads++;
      return engine;
    });
    expect(lazy.name).toBe('echo');
    expect(loads).toBe(0);
    const sessions = await Promise.all([lazy.createSession(OPTIONS), lazy.createSession({ ...OPTIONS, callId: 'a'.repeat(32) })]);
    await lazy.createSession({ ...OPTIONS, callId: 'b'.repeat(32) });
    expect(loads).toBe(1);
    expect(sessions.map((s) => s.callId)).toEqual([OPTIONS.callId, 'a'.repeat(32)]);
    expect(engine.opened).toHaveLength(3);
  });

  it('reports a failed load to the call and loads again for the next one', async () => {
    let loads = 0;
    const lazy = new LazyMediaEngine('echo', async () => {
      if (++loads === 1) throw new Error('cannot load the media engine');
      return new EchoEngine();
    });
    await expect(lazy.createSession(OPTIONS)).rejects.toThrow('cannot load the media engine');
    await expect(lazy.createSession(OPTIONS)).resolves.toMatchObject({ callId: OPTIONS.callId });
    expect(loads).toBe(2);
  });

  it('keeps a loaded engine when one session fails to open', async () => {
    let loads = 0;
    const lazy = new LazyMediaEngine('echo', async () => {
      loads++;
      return new EchoEngine();
    });
    await expect(lazy.createSession({ ...OPTIONS, callId: 'f'.repeat(32) })).rejects.toThrow('echo: this call fails');
    await expect(lazy.createSession(OPTIONS)).resolves.toMatchObject({ callId: OPTIONS.callId });
    expect(loads).toBe(1);
  });

  it('makes working sessions of the werift engine, imported as the plugin\'s default engine is', async () => {
    const lazy = new LazyMediaEngine('werift', async () => new (await import('./werift-media-engine.ts')).WeriftMediaEngine());
    const session = await lazy.createSession(OPTIONS);
    try {
      expect(await session.createOffer()).toMatch(/^m=audio /m);
    } finally {
      await session.close();
    }
  }, 60_000);
});

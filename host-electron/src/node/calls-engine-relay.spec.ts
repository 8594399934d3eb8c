import { describe, expect, it } from 'vitest';
import { isAppError } from '@discordopus/sdk';
import { CallsEngineRelay } from './calls-engine-relay.ts';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

function relay() {
  const forwarded: { method: string; params: unknown }[] = [];
  const r = new CallsEngineRelay(async (method, params) => {
    forwarded.push({ method, params });
    return method === 'calls.engine.attach' ? { attached: true } : { detached: true };
  });
  return { r, forwarded };
}

describe('CallsEngineRelay', () => {
  it('attaches the window, addresses engine requests to it, and lets a newer window take over', async () => {
    const { r, forwarded } = relay();
    expect(r.handles('calls.engine.attach')).toBe(true);
    expect(r.handles('calls.engine.respond')).toBe(false);
    expect(r.mapEvent({ topic: 'calls.engine.request', payload: { id: 1 } })).toBeUndefined();

    expect(await r.call('calls.engine.attach', { engineId: A })).toEqual({ attached: true });
    expect(forwarded).toEqual([{ method: 'calls.engine.attach', params: { name: 'renderer' } }]);
    expect(r.mapEvent({ topic: 'calls.engine.request', payload: { id: 1 } })).toEqual({ topic: 'calls.engine.request', payload: { engineId: A, request: { id: 1 } } });
    expect(r.mapEvent({ topic: 'calls.state', payload: { x: 1 } })).toEqual({ topic: 'calls.state', payload: { x: 1 } });

    await r.call('calls.engine.attach', { engineId: B });
    expect(r.attachedEngineId).toBe(B);
    // The replaced window's detach must not detach the newer one.
    expect(await r.call('calls.engine.detach', { engineId: A })).toEqual({ detached: false });
    expect(r.attachedEngineId).toBe(B);
    expect(await r.call('calls.engine.detach', { engineId: B })).toEqual({ detached: true });
    expect(forwarded.at(-1)).toEqual({ method: 'calls.engine.detach', params: {} });
    expect(r.attachedEngineId).toBeUndefined();
  });

  it('detaches when the last window goes, and forgets the engine when the profile locks', async () => {
    const { r, forwarded } = relay();
    await r.windowsGone();
    expect(forwarded).toEqual([]);
    await r.call('calls.engine.attach', { engineId: A });
    await r.windowsGone();
    expect(forwarded.map((f) => f.method)).toEqual(['calls.engine.attach', 'calls.engine.detach']);

    await r.call('calls.engine.attach', { engineId: A });
    r.mapEvent({ topic: 'profile.changed', payload: { unlocked: false } });
    expect(r.attachedEngineId).toBeUndefined();
  });

  it('refuses malformed parameters with bridge/invalid-params, and is not a general dispatcher', async () => {
    const { r, forwarded } = relay();
    for (const params of [undefined, {}, { engineId: 'short' }, { engineId: A.toUpperCase() }, { engineId: A, extra: 1 }, { engineId: A, name: '' }]) {
      const error = await r.call('calls.engine.attach', params).catch((e: unknown) => e);
      expect(isAppError(error) && error.code).toBe('bridge/invalid-params');
    }
    const detach = await r.call('calls.engine.detach', { engineId: 42 }).catch((e: unknown) => e);
    expect(isAppError(detach) && detach.code).toBe('bridge/invalid-params');
    await expect(r.call('contacts.list', {})).rejects.toThrow(TypeError);
    expect(forwarded).toEqual([]);
  });

  it('stays detached when the kernel refuses the attach', async () => {
    const r = new CallsEngineRelay(async () => {
      throw new Error('calls/unavailable');
    });
    await expect(r.call('calls.engine.attach', { engineId: A })).rejects.toThrow('calls/unavailable');
    expect(r.attachedEngineId).toBeUndefined();
  });
});

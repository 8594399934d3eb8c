import { z } from 'zod';
import { AppError } from '@discordopus/sdk';
import { CALLS_RPC } from '@discordopus/plugin-calls/common';
import { PROFILE_CHANGED_TOPIC, type BridgeEvent } from '../common/bridge-protocol.ts';

/*
 * Lets a renderer window be the media engine of its profile's calls plugin (Chromium's WebRTC
 * instead of the headless werift engine). The host has one connection to the client's method
 * table, shared by all its windows, so the kernel sees one engine: this relay remembers which
 * window attached last (its random `engineId`), addresses the kernel's `calls.engine.request`
 * notifications to it as bridge events, and detaches when that window says so or when no window
 * is connected any more. Without an attached window the plugin uses its default engine (werift),
 * as the CLI and daemon do. `calls.engine.respond` / `calls.engine.event` pass through untouched
 * (the kernel validates them).
 */

const engineId = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 hex digits');
const attachParams = z.strictObject({ name: z.string().min(1).max(40).optional(), engineId });
const detachParams = z.strictObject({ engineId: engineId.optional() });

/** The kernel's notification to the engine, passed to the renderers as a bridge event of the same name. */
export const CALLS_ENGINE_REQUEST = CALLS_RPC.engineRequest;

export type Forward = (method: string, params: unknown) => Promise<unknown>;

export class CallsEngineRelay {
  private current: string | undefined;

  constructor(private readonly forward: Forward) {}

  /** The engine id of the window that is the media engine now, if any. */
  get attachedEngineId(): string | undefined {
    return this.current;
  }

  /** True for the methods this relay answers instead of the launcher. */
  handles(method: string): boolean {
    return method === CALLS_RPC.engineAttach || method === CALLS_RPC.engineDetach;
  }

  async call(method: string, params: unknown): Promise<unknown> {
    if (method === CALLS_RPC.engineAttach) {
      const p = parse(attachParams, params, method);
      await this.forward(method, { name: p.name ?? 'renderer' });
      this.current = p.engineId;
      return { attached: true };
    }
    if (method === CALLS_RPC.engineDetach) {
      const p = parse(detachParams, params, method);
      // A window that was replaced by a newer one must not detach the newer one.
      if (this.current === undefined || (p.engineId !== undefined && p.engineId !== this.current)) return { detached: false };
      return this.detach();
    }
    throw new TypeError(`CallsEngineRelay.call: ${method} is not a relay method`);
  }

  /** Maps a host event for the renderers: engine requests are addressed to the attached window, or dropped. */
  mapEvent(event: BridgeEvent): BridgeEvent | undefined {
    if (event.topic === CALLS_RPC.engineRequest) {
      if (this.current === undefined) return undefined;
      return { topic: event.topic, payload: { engineId: this.current, request: event.payload } };
    }
    if (event.topic === PROFILE_CHANGED_TOPIC && (event.payload as { unlocked?: boolean } | null)?.unlocked === false) {
      // Locking closed the client, and with it the engine's attachment.
      this.current = undefined;
    }
    return event;
  }

  /** The last window went away: new calls use the default engine again. */
  async windowsGone(): Promise<void> {
    if (this.current !== undefined) await this.detach().catch(() => undefined);
  }

  private async detach(): Promise<{ detached: boolean }> {
    this.current = undefined;
    await this.forward(CALLS_RPC.engineDetach, {});
    return { detached: true };
  }
}

function parse<T>(schema: z.ZodType<T>, params: unknown, method: string): T {
  const parsed = schema.safeParse(params ?? {});
  if (!parsed.success) {
    const why = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'params'} ${issue.message}`).join('; ');
    throw new AppError('bridge/invalid-params', `${method}: ${why}.`);
  }
  return parsed.data;
}

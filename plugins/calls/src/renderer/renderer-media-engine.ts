import { Emitter, type Disposable, type Event } from '@discordopus/sdk';
import { CALLS_RPC } from '../common/calls-api.ts';
import { serveMediaEngine } from '../common/engine-bridge.ts';
import type { EngineBridgeRequest, MediaDevicesSelection, MediaEngine, MediaSessionOptions } from '../common/media-engine.ts';
import { RendererMediaSession } from './renderer-media-session.ts';

/*
 * The renderer media engine: one RendererMediaSession per call, created when the kernel-side
 * calls plugin asks (over the bridge). The UI looks sessions up by call id to show their local
 * and remote streams.
 */

export interface RendererMediaEngineOptions {
  /**
   * The user's preferred devices, asked for at the start of each call (so a change in the
   * settings applies to the next call). A failure or a device that is gone never fails the call.
   */
  devices?: () => MediaDevicesSelection | undefined | Promise<MediaDevicesSelection | undefined>;
}

export class RendererMediaEngine implements MediaEngine {
  readonly name = 'renderer';
  private readonly sessions = new Map<string, RendererMediaSession>();
  private readonly changeEmitter = new Emitter<string>();
  /** A session was created or closed (the call id). */
  readonly onDidChangeSessions: Event<string> = this.changeEmitter.event;

  constructor(private readonly engineOptions: RendererMediaEngineOptions = {}) {}

  async createSession(options: MediaSessionOptions): Promise<RendererMediaSession> {
    const session = await RendererMediaSession.create({
      callId: options.callId,
      role: options.role,
      audio: options.audio,
      video: options.video,
      iceServers: options.iceServers,
      devices: await this.preferredDevices(),
    });
    this.sessions.get(options.callId)?.close();
    this.sessions.set(options.callId, session);
    session.onState((state) => {
      if (state === 'closed' && this.sessions.get(options.callId) === session) {
        this.sessions.delete(options.callId);
        this.changeEmitter.fire(options.callId);
      }
    });
    this.changeEmitter.fire(options.callId);
    return session;
  }

  private async preferredDevices(): Promise<MediaDevicesSelection | undefined> {
    try {
      const devices = await this.engineOptions.devices?.();
      if (!devices || typeof devices !== 'object') return undefined;
      const clean: MediaDevicesSelection = {};
      for (const slot of ['audioInput', 'videoInput', 'audioOutput'] as const) {
        const id = devices[slot];
        if (typeof id === 'string' && id !== '') clean[slot] = id;
      }
      return clean;
    } catch {
      // Settings unreadable: the system defaults, as with no preference.
      return undefined;
    }
  }

  session(callId: string): RendererMediaSession | undefined {
    return this.sessions.get(callId);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
  }
}

/** The part of the host bridge the engine needs (the desktop's BridgeClient fits). */
export interface EngineTransport {
  call(method: string, params?: unknown): Promise<unknown>;
  onEvent(listener: (event: { topic: string; payload: unknown }) => void): () => void;
}

/** Bridge event topic on which the host passes the kernel's `calls.engine.request`s, addressed by `engineId`. */
export const ENGINE_REQUEST_TOPIC = CALLS_RPC.engineRequest;

/** Payload of an {@link ENGINE_REQUEST_TOPIC} event. */
export interface AddressedEngineRequest {
  engineId: string;
  request: EngineBridgeRequest;
}

/**
 * Makes this window the media engine of its profile's calls plugin: attaches over the bridge
 * (`calls.engine.attach` with a random `engineId`, so with two windows open only the one that
 * attached last answers), runs the requests addressed to it, and sends back responses and
 * session events. Disposing detaches and closes the engine's calls.
 */
export async function attachRendererEngine(engine: RendererMediaEngine, transport: EngineTransport): Promise<Disposable> {
  const engineId = randomId();
  const served = serveMediaEngine(engine, (output) => {
    const sent = 'response' in output
      ? transport.call(CALLS_RPC.engineRespond, output.response)
      : transport.call(CALLS_RPC.engineEvent, output.event);
    // A late event after the call ended is refused by the kernel; nothing to do about it here.
    sent.catch(() => undefined);
  });
  const stop = transport.onEvent((event) => {
    if (event.topic !== ENGINE_REQUEST_TOPIC) return;
    const payload = event.payload as Partial<AddressedEngineRequest> | null;
    if (!payload || payload.engineId !== engineId || !payload.request || typeof payload.request !== 'object') return;
    void served.handleRequest(payload.request);
  });
  try {
    await transport.call(CALLS_RPC.engineAttach, { name: 'renderer', engineId });
  } catch (error) {
    stop();
    served.dispose();
    throw error;
  }
  let disposed = false;
  return {
    dispose() {
      if (disposed) return;
      disposed = true;
      stop();
      served.dispose();
      transport.call(CALLS_RPC.engineDetach, { engineId }).catch(() => undefined);
    },
  };
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

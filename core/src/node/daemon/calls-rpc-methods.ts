import { z } from 'zod';
import { AppError, toDisposable } from '@discordopus/sdk';
// The runtime-free entry: the package root also brings the werift engine, which only `call` needs.
import { BridgedMediaEngine, CALLS_RPC, callIdSchema, type CallsApi, type EngineBridgeEvent, type EngineBridgeResponse } from '@discordopus/plugin-calls/common';
import type { DiscordOpusClient } from '../client/create-client.ts';
import { rpcMethod, type RpcMethodTable, type RpcSession } from './rpc-server.ts';

/*
 * The calls plugin's API as JSON-RPC methods (`calls.*`), plus the engine bridge: a connection
 * that calls `calls.engine.attach` becomes the media engine for new calls (the renderer running
 * Chromium's WebRTC); the kernel sends it `calls.engine.request` notifications and it answers
 * with `calls.engine.respond` and reports with `calls.engine.event`. Call changes reach clients
 * through `subscribe` with the topics `calls.state` and `calls.logged`.
 */

const contactRef = z.string().trim().min(1).max(200);
const callId = callIdSchema;
const ENGINE = 'calls.engine';

const candidate = z.strictObject({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});
const engineEvent = z.discriminatedUnion('event', [
  z.strictObject({ callId, event: z.literal('localCandidate'), candidate }),
  z.strictObject({ callId, event: z.literal('state'), state: z.enum(['connecting', 'connected', 'disconnected', 'failed', 'closed']) }),
  z.strictObject({ callId, event: z.literal('negotiationNeeded') }),
]);
const engineResponse = z.union([
  z.strictObject({ id: z.number().int().min(1), result: z.unknown() }),
  z.strictObject({ id: z.number().int().min(1), error: z.strictObject({ message: z.string().max(2000) }) }),
]);

/** The running calls plugin's API. @throws AppError `calls/unavailable` when it did not start. */
export function callsOf(client: DiscordOpusClient): CallsApi {
  const api = client.kernel.pluginApi<CallsApi>('calls');
  if (api) return api;
  const status = client.kernel.plugins().find((p) => p.id === 'calls');
  const why = status?.error ? `${status.error.code}: ${status.error.message}` : status ? `it is ${status.state}` : 'it is not installed';
  throw new AppError('calls/unavailable', `Calls are not available in this profile (${why}).`);
}

function attachedEngine(session: RpcSession): BridgedMediaEngine {
  const engine = session.state.get(ENGINE) as BridgedMediaEngine | undefined;
  if (!engine) throw new AppError('calls/no-engine', 'This connection is not attached as a media engine; call calls.engine.attach first.');
  return engine;
}

/** Detaches this connection's engine, if any: its calls fail, new calls use the default engine. */
function detach(session: RpcSession): boolean {
  const engine = session.state.get(ENGINE) as BridgedMediaEngine | undefined;
  (session.state.get(`${ENGINE}.detach`) as { dispose(): void } | undefined)?.dispose();
  engine?.dispose();
  session.state.delete(ENGINE);
  session.state.delete(`${ENGINE}.detach`);
  return engine !== undefined;
}

export function callsRpcMethods(client: DiscordOpusClient): RpcMethodTable {
  const api = () => callsOf(client);
  return {
    [CALLS_RPC.call]: rpcMethod(z.strictObject({ contact: contactRef, video: z.boolean().optional() }),
      ({ contact, video }) => api().call(contact, { video: video ?? false })),
    [CALLS_RPC.accept]: rpcMethod(z.strictObject({ callId, video: z.boolean().optional() }),
      ({ callId: id, video }) => api().accept(id, video === undefined ? {} : { video })),
    [CALLS_RPC.decline]: rpcMethod(z.strictObject({ callId }), ({ callId: id }) => api().decline(id)),
    [CALLS_RPC.hangUp]: rpcMethod(z.strictObject({ callId }), ({ callId: id }) => api().hangUp(id)),
    [CALLS_RPC.setMuted]: rpcMethod(z.strictObject({ callId, kind: z.enum(['audio', 'video']), muted: z.boolean() }),
      ({ callId: id, kind, muted }) => api().setMuted(id, kind, muted)),
    [CALLS_RPC.setCamera]: rpcMethod(z.strictObject({ callId, on: z.boolean() }), ({ callId: id, on }) => api().setCamera(id, on)),
    [CALLS_RPC.startScreenShare]: rpcMethod(z.strictObject({ callId }), ({ callId: id }) => api().startScreenShare(id)),
    [CALLS_RPC.stopScreenShare]: rpcMethod(z.strictObject({ callId }), ({ callId: id }) => api().stopScreenShare(id)),
    [CALLS_RPC.restartIce]: rpcMethod(z.strictObject({ callId }), ({ callId: id }) => api().restartIce(id)),
    [CALLS_RPC.quality]: rpcMethod(z.strictObject({ callId }), ({ callId: id }) => api().quality(id)),
    [CALLS_RPC.list]: rpcMethod(z.strictObject({}), () => api().calls()),
    [CALLS_RPC.history]: rpcMethod(z.strictObject({ contact: contactRef.optional(), limit: z.number().int().min(1).max(500).optional() }),
      ({ contact, limit }) => api().history({ ...(contact ? { contact } : {}), ...(limit ? { limit } : {}) })),
    [CALLS_RPC.engineAttach]: rpcMethod(z.strictObject({ name: z.string().min(1).max(40).optional() }), ({ name }, session) => {
      detach(session);
      const engine = new BridgedMediaEngine(name ?? 'renderer', (request) => session.notify(CALLS_RPC.engineRequest, request));
      const attached = api().attachEngine(engine);
      session.state.set(ENGINE, engine);
      // The connection closing detaches the engine and fails its calls.
      session.subscriptions.push(toDisposable(() => {
        attached.dispose();
        engine.dispose();
      }));
      session.state.set(`${ENGINE}.detach`, attached);
      return { attached: true };
    }),
    [CALLS_RPC.engineDetach]: rpcMethod(z.strictObject({}), (_params, session) => ({ detached: detach(session) })),
    [CALLS_RPC.engineRespond]: rpcMethod(engineResponse, (response, session) => {
      attachedEngine(session).handleResponse(response as EngineBridgeResponse);
      return {};
    }),
    [CALLS_RPC.engineEvent]: rpcMethod(engineEvent, (event, session) => {
      attachedEngine(session).handleEvent(event as EngineBridgeEvent);
      return {};
    }),
  };
}

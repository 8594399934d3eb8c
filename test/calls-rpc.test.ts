/*
 * The daemon's `calls.*` JSON-RPC methods and the engine bridge, end to end: bob's "renderer" is
 * a JSON-RPC connection that attaches as bob's media engine (`calls.engine.attach`) and serves
 * a werift engine through `serveMediaEngine`, as the desktop renderer serves Chromium's WebRTC.
 * Every message crosses as JSON text.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientRpcMethods } from '../core/src/node/daemon/client-rpc-methods.ts';
import { RpcServer, type RpcConnection } from '../core/src/node/daemon/rpc-server.ts';
import {
  CALLS_RPC, WeriftMediaEngine, serveMediaEngine, type CallView, type EngineBridgeRequest,
} from '../plugins/calls/src/index.ts';
import { CallWorld, until, waitForCall, type CallPeer } from './calls-support.ts';

const world = new CallWorld();
let alice: CallPeer;
let bob: CallPeer;

/** A JSON-RPC client on an in-process connection of `server`. */
class RpcClient {
  readonly connection: RpcConnection;
  readonly notifications: { method: string; params: any }[] = [];
  onNotification: (method: string, params: any) => void = () => {};
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();

  constructor(server: RpcServer) {
    this.connection = server.connect((text) => {
      const message = JSON.parse(text);
      if (message.id !== undefined && message.id !== null) {
        const w = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        if (message.error) w?.reject(Object.assign(new Error(message.error.message), { data: message.error.data }));
        else w?.resolve(message.result);
      } else {
        this.notifications.push(message);
        this.onNotification(message.method, message.params);
      }
    });
  }

  call(method: string, params: unknown = {}): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      void this.connection.receive(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }
}

let server: RpcServer;

beforeAll(async () => {
  await world.start();
  // Bob has no engine of his own: only the attached "renderer" can make media.
  [alice, bob] = await Promise.all([world.peer('alice'), world.peer('bob', { engine: null })]);
  await world.befriend(alice, bob);
  server = new RpcServer(clientRpcMethods(bob.client));
}, 120_000);

afterAll(async () => {
  server?.dispose();
  await world.stop();
}, 60_000);

describe('calls over JSON-RPC with a bridged engine', () => {
  it('refuses to answer without an engine, then works once a renderer attaches; detaching fails the call', async () => {
    const ui = new RpcClient(server);
    const states: CallView[] = [];
    ui.onNotification = (method, params) => {
      if (method === 'event' && params.topic === 'calls.state') states.push(params.payload.call);
    };
    await ui.call('subscribe', { topics: ['calls.state', 'calls.logged'] });

    // No engine yet: accepting fails with calls/no-engine, the call stays ringing.
    const first = await alice.calls.call('bob');
    await until('the ring to reach the UI', () => states.some((s) => s.callId === first.callId && s.state === 'ringing'));
    await expect(ui.call(CALLS_RPC.accept, { callId: first.callId })).rejects.toThrow(/No media engine/);
    await alice.calls.hangUp(first.callId);

    // The "renderer" attaches and serves a werift engine through the bridge.
    const renderer = new RpcClient(server);
    const served = serveMediaEngine(new WeriftMediaEngine(), (output) => {
      if ('response' in output) void renderer.call(CALLS_RPC.engineRespond, output.response);
      else void renderer.call(CALLS_RPC.engineEvent, output.event);
    });
    renderer.onNotification = (method, params) => {
      if (method === CALLS_RPC.engineRequest) void served.handleRequest(params as EngineBridgeRequest);
    };
    expect(await renderer.call(CALLS_RPC.engineAttach, { name: 'renderer' })).toEqual({ attached: true });

    const call = await alice.calls.call('bob', { video: true });
    await until('the ring', () => states.some((s) => s.callId === call.callId && s.state === 'ringing'));
    const accepted: CallView = await ui.call(CALLS_RPC.accept, { callId: call.callId });
    expect(accepted).toMatchObject({ callId: call.callId, state: 'connecting', engine: 'renderer' });
    await waitForCall(alice, (c) => c.callId === call.callId && c.state === 'active', 'alice active');
    await until('bob active over RPC', () => states.some((s) => s.callId === call.callId && s.state === 'active'));
    expect(await ui.call(CALLS_RPC.list)).toMatchObject([{ callId: call.callId, state: 'active' }]);
    await until('media through the bridged engine', async () => ((await ui.call(CALLS_RPC.quality, { callId: call.callId })).video?.framesDecoded ?? 0) > 0);
    expect(await ui.call(CALLS_RPC.setMuted, { callId: call.callId, kind: 'audio', muted: true })).toMatchObject({ muted: { audio: true } });
    await waitForCall(alice, (c) => c.callId === call.callId && c.remote.audioMuted, 'alice to see bob muted');

    // Bad params are refused by the schema.
    await expect(ui.call(CALLS_RPC.setMuted, { callId: call.callId, kind: 'smell', muted: true })).rejects.toThrow();
    await expect(ui.call(CALLS_RPC.accept, { callId: 'nope' })).rejects.toThrow();
    await expect(ui.call(CALLS_RPC.engineRespond, { id: 1, result: null })).rejects.toThrow(/not attached/);

    // The renderer goes away: bob's call fails closed and alice hears about it.
    renderer.connection.dispose();
    await until('bob\'s call to fail', () => states.some((s) => s.callId === call.callId && s.state === 'ended'));
    await waitForCall(alice, (c) => c.callId === call.callId && c.state === 'ended', 'alice to see the end');
    const history = await ui.call(CALLS_RPC.history, { contact: 'alice', limit: 5 });
    expect(history.map((h: { callId: string }) => h.callId)).toContain(call.callId);
    served.dispose();
    ui.connection.dispose();
  }, 120_000);
});

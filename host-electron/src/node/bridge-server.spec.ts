import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AppError, Emitter } from '@discordopus/sdk';
import type { BridgeEvent } from '../common/bridge-protocol.ts';
import { BridgeServer } from './bridge-server.ts';

let dir: string;
let server: BridgeServer;
const events = new Emitter<BridgeEvent>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bridge-server-'));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(path.join(dir, 'assets', 'app.js'), 'console.log(1)');
  await writeFile(path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`), 'secret');
  server = await BridgeServer.start({
    staticDir: dir,
    onEvent: events.event,
    handler: async (method, params) => {
      if (method === 'test.echo') return params;
      if (method === 'test.fail') throw new AppError('storage/wrong-passphrase', 'Wrong passphrase. Try again.');
      if (method === 'test.crash') throw new Error('secret internal detail');
      throw new AppError('bridge/unknown-method', `Unknown method ${method}.`);
    },
  });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await rm(path.join(path.dirname(dir), `${path.basename(dir)}-secret.txt`), { force: true });
});

function base(): string {
  return `http://127.0.0.1:${server.listeningPort}`;
}

function connect(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.listeningPort}/bridge${query}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function request(ws: WebSocket, text: string): Promise<any> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer) => {
      const message = JSON.parse(data.toString());
      if (message.method === 'event') return;
      ws.off('message', onMessage);
      resolve(message);
    };
    ws.on('message', onMessage);
    ws.send(text);
  });
}

describe('BridgeServer', () => {
  it('prints a loopback URL whose fragment carries a long random token', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
  });

  it('serves the renderer with a strict CSP and no-sniff headers', async () => {
    const res = await fetch(`${base()}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base()}/assets/app.js`)).headers.get('content-type')).toContain('javascript');
  });

  it('refuses paths outside the static folder, missing files and other methods', async () => {
    expect((await fetch(`${base()}/..%2f${path.basename(dir)}-secret.txt`)).status).toBe(404);
    expect((await fetch(`${base()}/nope.js`)).status).toBe(404);
    expect((await fetch(`${base()}/`, { method: 'POST' })).status).toBe(405);
  });

  it('refuses WebSocket connections without the token, with a wrong one, or from a foreign origin', async () => {
    await expect(connect('')).rejects.toThrow('HTTP 401');
    await expect(connect('?token=wrong')).rejects.toThrow('HTTP 401');
    await expect(connect(`?token=${server.token}x`)).rejects.toThrow('HTTP 401');
    await expect(connect(`?token=${server.token}`, { Origin: 'http://evil.example' })).rejects.toThrow('HTTP 401');
    await expect(connect(`?token=${server.token}`, { Host: 'evil.example' })).rejects.toThrow('HTTP 401');
  });

  it('answers JSON-RPC calls, maps AppErrors to their code and hides internal errors', async () => {
    const ws = await connect(`?token=${server.token}`, { Origin: base() });
    try {
      expect(await request(ws, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: { a: 1 } }))).toEqual({ jsonrpc: '2.0', id: 1, result: { a: 1 } });
      const failed = await request(ws, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'test.fail', params: {} }));
      expect(failed.error).toMatchObject({ code: -32000, message: 'Wrong passphrase. Try again.', data: { code: 'storage/wrong-passphrase' } });
      const crashed = await request(ws, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'test.crash' }));
      expect(crashed.error.code).toBe(-32603);
      expect(crashed.error.message).not.toContain('secret');
    } finally {
      ws.close();
    }
  });

  it('answers malformed frames with JSON-RPC errors', async () => {
    const ws = await connect(`?token=${server.token}`);
    try {
      expect((await request(ws, '{not json')).error.code).toBe(-32700);
      expect((await request(ws, '[1,2]')).error.code).toBe(-32600);
      expect((await request(ws, JSON.stringify({ jsonrpc: '1.0', id: 4, method: 'test.echo' }))).error.code).toBe(-32600);
      expect((await request(ws, JSON.stringify({ jsonrpc: '2.0', id: 5, method: '../etc' }))).error.code).toBe(-32600);
      expect((await request(ws, JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'test.echo', params: 'x' }))).error.code).toBe(-32602);
    } finally {
      ws.close();
    }
  });

  it('pushes host events to every connected renderer', async () => {
    const ws = await connect(`?token=${server.token}`);
    try {
      const received = new Promise<any>((resolve) => ws.on('message', (data) => resolve(JSON.parse(data.toString()))));
      events.fire({ topic: 'contacts.changed', payload: { userId: 'x' } });
      expect(await received).toEqual({ jsonrpc: '2.0', method: 'event', params: { topic: 'contacts.changed', payload: { userId: 'x' } } });
    } finally {
      ws.close();
    }
  });
});

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startEmbeddedServer } from './embedded-server.ts';

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('startEmbeddedServer', () => {
  it('starts a signaling server, and a second instance joins it instead of failing', async () => {
    const port = await freePort();
    const first = await startEmbeddedServer(port);
    try {
      expect(first).toMatchObject({ url: `http://127.0.0.1:${port}`, owned: true });
      const second = await startEmbeddedServer(port);
      expect(second).toMatchObject({ url: first.url, owned: false });
      await second.close();
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.close();
    }
  });

  it('says so when the port is taken by another program', async () => {
    const other = createServer((_req, res) => res.end('not a signaling server'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      await expect(startEmbeddedServer((other.address() as AddressInfo).port)).rejects.toThrow(/taken by another program; pass --server/);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });
});

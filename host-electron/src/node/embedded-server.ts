import pino from 'pino';
import { createSignalingServer } from '@discordopus/server';

/** The port of the embedded signaling server, shared by every local profile so they can reach each other. */
export const EMBEDDED_SERVER_PORT = 47800;

export interface EmbeddedServer {
  url: string;
  /** False when another local app instance already runs it; closing is then that instance's job. */
  owned: boolean;
  close(): Promise<void>;
}

/**
 * Starts the embedded signaling server on 127.0.0.1, or joins the one another local instance
 * started (so `npm start -- --profile bob` next to `npm start` talks to the same server).
 */
export async function startEmbeddedServer(port = EMBEDDED_SERVER_PORT): Promise<EmbeddedServer> {
  const url = `http://127.0.0.1:${port}`;
  try {
    const server = await createSignalingServer({
      host: '127.0.0.1',
      port,
      logger: pino({ level: 'warn' }, pino.destination(2)),
      processMetrics: false,
    });
    return { url: server.url, owned: true, close: () => server.close() };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (!(await isSignalingServer(url))) {
      throw new Error(`Port ${port} is taken by another program; pass --server URL or free the port.`, { cause: error });
    }
    return { url, owned: false, close: async () => {} };
  }
}

async function isSignalingServer(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) });
    const body = (await response.json()) as { status?: unknown };
    return typeof body.status === 'string';
  } catch {
    return false;
  }
}

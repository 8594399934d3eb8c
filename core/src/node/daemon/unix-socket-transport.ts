import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { AppError } from '@discordopus/sdk';
import type { Logger } from '@discordopus/sdk';
import type { RpcServer } from './rpc-server.ts';
import { RpcErrorCode } from './rpc-server.ts';

/** Longest accepted line; a peer that sends more without a newline is cut off. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Serves an {@link RpcServer} on a Unix socket, one JSON message per line (newline-delimited
 * JSON) in each direction. Only the owner may connect (mode 0600): the daemon speaks for the
 * unlocked profile.
 */
export class UnixSocketTransport {
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, readonly path: string) {}

  /**
   * Listens on `path`. A stale socket file left by a crashed daemon is replaced.
   * @throws AppError `daemon/socket-in-use` when another daemon answers on `path`.
   */
  static async listen(rpc: RpcServer, path: string, logger?: Logger): Promise<UnixSocketTransport> {
    await removeStaleSocket(path);
    const server = net.createServer();
    const transport = new UnixSocketTransport(server, path);
    server.on('connection', (socket) => transport.accept(rpc, socket, logger));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'EADDRINUSE'
          ? new AppError('daemon/socket-in-use', `${path} is in use by another daemon; stop it or choose another --socket path.`)
          : new AppError('daemon/listen-failed', `Cannot listen on ${path}: ${error.message}.`, { cause: error }));
      });
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o600);
    return transport;
  }

  /** Stops listening, closes every connection and removes the socket file. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await unlink(this.path).catch(() => undefined);
  }

  private accept(rpc: RpcServer, socket: net.Socket, logger?: Logger): void {
    this.sockets.add(socket);
    const connection = rpc.connect((text) => {
      if (!socket.destroyed) socket.write(`${text}\n`);
    });
    let buffered = '';
    // Requests of one connection are answered in order: each waits for the previous one.
    let queue = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        if (line.trim() === '') continue;
        queue = queue.then(() => connection.receive(line)).catch((error) => logger?.error('daemon: request failed', { error: String(error) }));
      }
      if (Buffer.byteLength(buffered) > MAX_LINE_BYTES) {
        const reply = { jsonrpc: '2.0', id: null, error: { code: RpcErrorCode.InvalidRequest, message: `Invalid request: a line is longer than ${MAX_LINE_BYTES} bytes.` } };
        socket.end(`${JSON.stringify(reply)}\n`);
        buffered = '';
        connection.dispose();
      }
    });
    socket.on('error', (error) => logger?.debug('daemon: connection error', { error: String(error) }));
    socket.on('close', () => {
      this.sockets.delete(socket);
      connection.dispose();
    });
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (!stat) return;
  if (!stat.isSocket()) {
    throw new AppError('daemon/listen-failed', `${path} exists and is not a socket; choose another --socket path (nothing was removed).`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new AppError('daemon/socket-in-use', `${path} is in use by another daemon; stop it or choose another --socket path.`);
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw new AppError('daemon/listen-failed', `Cannot remove the stale socket ${path}: ${error.message}.`);
  });
}

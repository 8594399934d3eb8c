import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { EVENT_NOTIFICATION, MAX_MESSAGE_BYTES, type BridgeEvent, type RpcNotification } from '../common/bridge-protocol.ts';
import { handleRpcText, type CallHandler } from './rpc-endpoint.ts';

export interface BridgeServerOptions {
  /** Folder of the built renderer (index.html + assets). */
  staticDir: string;
  handler: CallHandler;
  /** Subscribes to host events; they go to every connected renderer. */
  onEvent: (listener: (event: BridgeEvent) => void) => { dispose(): void };
  /** 0 = any free port. */
  port?: number;
  /** Defaults to a fresh 256-bit random token. */
  token?: string;
  onInternalError?: (error: unknown) => void;
  /** Told how many renderers are connected whenever one connects or leaves (the calls engine relay detaches at 0). */
  onConnectionCount?: (count: number) => void;
}

/** Path of the WebSocket endpoint; the token goes in its `token` query parameter. */
export const BRIDGE_PATH = '/bridge';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * The web host's local server on 127.0.0.1: the renderer's static files and the JSON-RPC bridge
 * over WebSocket. A connection must present the random token (from the URL the host printed);
 * without it, or from a foreign Host/Origin (DNS rebinding, other web pages), it is refused
 * before any message is read.
 */
export class BridgeServer {
  readonly token: string;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private subscription: { dispose(): void } | undefined;
  private port = 0;

  private constructor(private readonly options: BridgeServerOptions) {
    this.token = options.token ?? randomBytes(32).toString('base64url');
    this.http = createServer((req, res) => void this.serveStatic(req, res));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
    this.http.on('upgrade', (req, socket, head) => {
      if (!this.acceptUpgrade(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws));
    });
  }

  static async start(options: BridgeServerOptions): Promise<BridgeServer> {
    const server = new BridgeServer(options);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(options.port ?? 0, '127.0.0.1', () => {
        server.http.off('error', reject);
        resolve();
      });
    });
    server.port = (server.http.address() as AddressInfo).port;
    server.subscription = options.onEvent((event) => server.broadcast(event));
    return server;
  }

  /** The address to open in a browser; the token rides in the fragment, which browsers never send to servers. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/#token=${this.token}`;
  }

  get listeningPort(): number {
    return this.port;
  }

  async close(): Promise<void> {
    this.subscription?.dispose();
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private acceptUpgrade(req: IncomingMessage): boolean {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== BRIDGE_PATH) return false;
    if (!this.isLocalHost(req.headers.host)) return false;
    const origin = req.headers.origin;
    if (origin !== undefined && !this.isLocalOrigin(origin)) return false;
    const presented = Buffer.from(url.searchParams.get('token') ?? '');
    const expected = Buffer.from(this.token);
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  }

  private isLocalHost(host: string | undefined): boolean {
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`;
  }

  private isLocalOrigin(origin: string): boolean {
    return origin === `http://127.0.0.1:${this.port}` || origin === `http://localhost:${this.port}`;
  }

  private attach(ws: WebSocket): void {
    this.sockets.add(ws);
    this.options.onConnectionCount?.(this.sockets.size);
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.options.onConnectionCount?.(this.sockets.size);
    });
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(1003, 'text frames only');
        return;
      }
      void handleRpcText(data.toString('utf8'), this.options.handler, this.options.onInternalError).then((reply) => {
        if (reply !== undefined && ws.readyState === ws.OPEN) ws.send(reply);
      });
    });
  }

  private broadcast(event: BridgeEvent): void {
    const text = JSON.stringify({ jsonrpc: '2.0', method: EVENT_NOTIFICATION, params: event } satisfies RpcNotification);
    for (const ws of this.sockets) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  private async serveStatic(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setSecurityHeaders(res, this.port);
    if (!this.isLocalHost(req.headers.host)) return end(res, 421, 'Misdirected request');
    if (req.method !== 'GET' && req.method !== 'HEAD') return end(res, 405, 'Method not allowed');
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const root = path.resolve(this.options.staticDir);
    const file = path.resolve(root, `.${pathname === '/' ? '/index.html' : pathname}`);
    if (file !== root && !file.startsWith(root + path.sep)) return end(res, 404, 'Not found');
    try {
      if (!(await stat(file)).isFile()) return end(res, 404, 'Not found');
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      end(res, 404, 'Not found');
    }
  }
}

/** The renderer's Content-Security-Policy: its own scripts and styles only, images from data: (QR codes), the bridge socket. */
export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function setSecurityHeaders(res: ServerResponse, port: number): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy(port));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cache-Control', 'no-store');
}

function end(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

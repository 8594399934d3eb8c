/**
 * Helpers for the secure-channel scenarios: a hostile relay that sits between the clients and a
 * real signaling server. It records every byte both ways and lets a test drop, replay, reorder,
 * tamper with, forge and inject envelopes, or rewrite the server's answers (prekey bundles).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as IoServer, type Socket as ServerSocket } from 'socket.io';
import { io as connectTo, type Socket as ClientSocket } from 'socket.io-client';
import { SignalingEvents, type Logger, type UserId } from '@discordopus/sdk';

export interface Delivery {
  from: UserId;
  payload: Uint8Array;
}

/** What the relay does with an envelope the server delivers to `to`: forward it (maybe changed) any number of times. */
export type DeliveryHook = (delivery: Delivery, to: UserId, forward: (delivery: Delivery) => void) => void;
/** Rewrites the server's answer to a client request. */
export type ReplyHook = (event: string, reply: any) => any;

export class HostileRelay {
  /** Every binary value that crossed the relay, both directions. */
  readonly captured: Uint8Array[] = [];
  /** Events the clients sent, by name. */
  readonly counts = new Map<string, number>();
  onDelivery: DeliveryHook | undefined;
  onReply: ReplyHook | undefined;
  private readonly downstream = new Map<UserId, ServerSocket>();

  private constructor(private readonly http: HttpServer, private readonly io: IoServer, readonly url: string) {}

  /** Listens on 127.0.0.1; call {@link connect} once the upstream server's URL is known. */
  static async listen(): Promise<HostileRelay> {
    const http = createServer();
    const io = new IoServer(http, { transports: ['websocket'], maxHttpBufferSize: 1 << 20 });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new HostileRelay(http, io, `http://127.0.0.1:${(http.address() as AddressInfo).port}`);
  }

  connect(upstreamUrl: string): void {
    this.io.on('connection', (down) => {
      const up: ClientSocket = connectTo(upstreamUrl, { transports: ['websocket'], forceNew: true, reconnection: false });
      up.onAny((event: string, ...args: unknown[]) => {
        this.capture(args);
        if (event === SignalingEvents.envelope) {
          // Payloads travel as base64url text; the test sees (and the capture searches) the bytes.
          const wire = args[0] as { from: UserId; payload: string };
          const delivery = { from: wire.from, payload: fromWire(wire.payload) };
          this.captured.push(delivery.payload);
          if (!this.onDelivery) return void down.emit(event, wire);
          this.onDelivery(delivery, this.userOf(down), (d) => down.emit(event, { from: d.from, payload: toWire(d.payload) }));
          return;
        }
        down.emit(event, ...args);
      });
      down.onAny((event: string, ...args: unknown[]) => {
        const ack = typeof args.at(-1) === 'function' ? (args.pop() as (reply: unknown) => void) : undefined;
        this.capture(args);
        const payload = (args[0] as { payload?: unknown } | undefined)?.payload;
        if (event === SignalingEvents.envelope && typeof payload === 'string') this.captured.push(fromWire(payload));
        this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
        if (!ack) return void up.emit(event, ...args);
        up.emit(event, ...args, (reply: any) => {
          this.capture([reply]);
          if (event === SignalingEvents.auth && reply?.ok) this.downstream.set(reply.userId, down);
          ack(this.onReply ? this.onReply(event, reply) : reply);
        });
      });
      down.on('disconnect', () => up.disconnect());
      up.on('disconnect', () => down.disconnect(true));
    });
  }

  /** Sends an envelope to `to` as if the server delivered it from `from`. */
  inject(to: UserId, delivery: Delivery): void {
    this.downstream.get(to)?.emit(SignalingEvents.envelope, { from: delivery.from, payload: toWire(delivery.payload) });
  }

  /** True when any captured byte string contains `needle`. */
  sawBytes(needle: Uint8Array): boolean {
    const n = Buffer.from(needle);
    return this.captured.some((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength).includes(n));
  }

  count(event: string): number {
    return this.counts.get(event) ?? 0;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.io.close(() => resolve()));
    // Before waiting: the HTTP server's close waits for its connections, so closing them after would deadlock.
    this.http.closeAllConnections();
    await closed;
  }

  private userOf(socket: ServerSocket): UserId {
    for (const [userId, s] of this.downstream) if (s === socket) return userId;
    return '' as UserId;
  }

  private capture(values: unknown[], depth = 0): void {
    for (const value of values) {
      if (value instanceof Uint8Array) this.captured.push(Uint8Array.from(value));
      else if (typeof value === 'string') this.captured.push(new TextEncoder().encode(value));
      else if (value && typeof value === 'object' && depth < 6) this.capture(Object.values(value), depth + 1);
    }
  }
}

function fromWire(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

function toWire(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

/** A logger that keeps every line, to assert drop reasons were logged and no plaintext was. */
export class RecordingLogger implements Logger {
  constructor(readonly lines: { level: string; message: string; fields: Record<string, unknown> }[] = [], private readonly bindings: Record<string, unknown> = {}) {}
  debug(message: string, fields: Record<string, unknown> = {}): void { this.lines.push({ level: 'debug', message, fields: { ...this.bindings, ...fields } }); }
  info(message: string, fields: Record<string, unknown> = {}): void { this.lines.push({ level: 'info', message, fields: { ...this.bindings, ...fields } }); }
  warn(message: string, fields: Record<string, unknown> = {}): void { this.lines.push({ level: 'warn', message, fields: { ...this.bindings, ...fields } }); }
  error(message: string, fields: Record<string, unknown> = {}): void { this.lines.push({ level: 'error', message, fields: { ...this.bindings, ...fields } }); }
  child(bindings: Record<string, unknown>): Logger { return new RecordingLogger(this.lines, { ...this.bindings, ...bindings }); }

  /** Codes of the dropped envelopes logged so far. */
  dropped(): string[] {
    return this.lines.filter((l) => l.message.includes('dropped an incoming envelope')).map((l) => String(l.fields.code));
  }

  text(): string {
    return JSON.stringify(this.lines, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
  }
}

import type { Socket as NetSocket } from 'node:net';
import type { Socket } from 'socket.io';

interface WebSocketTransport {
  send(packets: unknown[]): void;
  socket?: { _socket?: NetSocket };
}

/**
 * Makes a burst of packets to one client a single socket write. engine.io hands the packets that
 * queued while the previous write was in flight to its WebSocket transport together, but ws
 * writes each frame on its own: one writev syscall per envelope, the largest single cost in the
 * relay profile. Corking the TCP socket around the transport's `send` coalesces them. Reaches
 * into engine.io's and ws's internals, so it checks their shape and does nothing if it changed.
 */
export function batchWrites(socket: Socket): void {
  const transport = socket.conn.transport as unknown as WebSocketTransport;
  const raw = transport.socket?._socket;
  if (typeof transport.send !== 'function' || typeof raw?.cork !== 'function' || typeof raw.uncork !== 'function') return;
  const send = transport.send.bind(transport);
  transport.send = (packets) => {
    if (packets.length < 2) return send(packets);
    raw.cork();
    try {
      send(packets);
    } finally {
      raw.uncork();
    }
  };
}

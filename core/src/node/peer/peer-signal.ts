import { z } from 'zod';

/*
 * Signals that set up a peer link. They are JSON-safe so the caller can put them inside a
 * Double-Ratchet envelope and route them through the (hostile) signaling server; the link never
 * sees how they travel. Every signal names the session (one RTCPeerConnection) it belongs to, so
 * late signals of an old session are told apart from the current one.
 */

const sessionId = z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/);
// Real SDPs for one data channel are ~1-3 KB; the cap keeps a hostile peer from feeding megabytes.
const sdp = z.string().min(1).max(64 * 1024);

export const PeerSignalSchema = z.discriminatedUnion('kind', [
  /** The offerer's SDP for a new session. */
  z.object({ kind: z.literal('offer'), session: sessionId, sdp }).strict(),
  /** The answerer's SDP for the session the offer named. */
  z.object({ kind: z.literal('answer'), session: sessionId, sdp }).strict(),
  /** One trickled ICE candidate (`candidate` is the `candidate:` attribute line). */
  z
    .object({
      kind: z.literal('candidate'),
      session: sessionId,
      candidate: z.string().min(1).max(1024),
      sdpMid: z.string().max(32).optional(),
      sdpMLineIndex: z.number().int().min(0).max(64).optional(),
    })
    .strict(),
  /**
   * The answerer asks the offerer for a fresh session: it wants to send, or its last session
   * (`session`, if any) dropped.
   */
  z.object({ kind: z.literal('restart'), session: sessionId.optional() }).strict(),
  /** The sender closed the session on purpose. */
  z.object({ kind: z.literal('bye'), session: sessionId }).strict(),
]);

/** A signaling payload between two peer links. Validate incoming ones with {@link parsePeerSignal}. */
export type PeerSignal = z.infer<typeof PeerSignalSchema>;

/** Validates an untrusted value as a {@link PeerSignal}; on failure, says which fields were wrong. */
export function parsePeerSignal(value: unknown): { signal: PeerSignal } | { error: string } {
  const result = PeerSignalSchema.safeParse(value);
  if (result.success) return { signal: result.data };
  return { error: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
}

/**
 * The DTLS certificate fingerprint an SDP announces, as `"<algorithm> <HEX:PAIRS>"` (algorithm
 * lower-case, hex upper-case), or `undefined` when the SDP has none. The first fingerprint wins,
 * as in werift (one DTLS transport per connection, bundled).
 */
export function sdpFingerprint(sdpText: string): string | undefined {
  const match = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/m.exec(sdpText);
  if (!match) return undefined;
  return `${match[1]!.toLowerCase()} ${match[2]!.toUpperCase()}`;
}

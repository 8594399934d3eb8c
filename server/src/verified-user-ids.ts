import { USER_ID_LENGTH, envelopeSeqSchema, isUserId, payloadWireSchema, type UserId } from '@discordopus/sdk';
import { z } from 'zod';

/**
 * User IDs whose bech32m checksum has been verified. Checking the checksum was most of the cost of
 * validating an envelope, and a conversation sends many envelopes to the same few recipients, so
 * each ID is checked once. Bounded: when full it starts over, so a flood of distinct IDs costs
 * checks again but no memory.
 */
export class VerifiedUserIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 50_000) {
    if (!(capacity >= 1)) throw new RangeError('VerifiedUserIds: capacity must be >= 1');
  }

  /** True when `value` is a well-formed user ID (checksum included), as `isUserId`. */
  check(value: unknown): value is UserId {
    if (typeof value !== 'string' || value.length !== USER_ID_LENGTH) return false;
    if (this.ids.has(value)) return true;
    if (!isUserId(value)) return false;
    if (this.ids.size >= this.capacity) this.ids.clear();
    this.ids.add(value);
    return true;
  }

  get size(): number {
    return this.ids.size;
  }
}

/**
 * The server's schema for `envelope`: the protocol's `envelopeSendWireSchema` with the recipient
 * checked through `verified`. Same rules, same error paths.
 */
export function envelopeWireSchema(verified: VerifiedUserIds) {
  return z.strictObject({
    to: z.custom<UserId>((value) => verified.check(value), 'expected a user ID'),
    payload: payloadWireSchema,
    seq: envelopeSeqSchema.optional(),
  });
}

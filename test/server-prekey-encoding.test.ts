import { describe, expect, it } from 'vitest';
import { signedPrekeyMessage } from '@discordopus/sdk';
import { signedPrekeyMessage as x3dhSignedPrekeyMessage } from '../core/src/common/protocol/x3dh.ts';

// The server verifies signed prekeys with the SDK encoding; the kernel signs them with X3DH's.
describe('signed prekey encoding', () => {
  it('is the same bytes in the SDK (server side) and in core X3DH (signer side)', () => {
    for (const id of [0, 1, 258, 0xffffffff]) {
      const key = new Uint8Array(32).map((_, i) => (i * 7 + id) & 0xff);
      expect(Buffer.from(signedPrekeyMessage(id, key)).toString('hex')).toBe(Buffer.from(x3dhSignedPrekeyMessage(id, key)).toString('hex'));
    }
  });
});

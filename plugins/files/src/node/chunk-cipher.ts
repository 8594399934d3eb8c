import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CHUNK_FRAME_HEADER, FrameType, hexToBytes } from '../common/files-protocol.ts';

/*
 * Per-chunk AEAD (AES-256-GCM from node:crypto). The file key arrives inside the ratchet
 * session; each stream session derives its own subkey from it with a fresh random salt, so a
 * resumed session (even if the source file changed) never reuses a (key, nonce) pair. The nonce
 * and the associated data bind the chunk index and the final-chunk flag, the AD also the
 * transfer id: a reordered, truncated, spliced or altered chunk does not open.
 */

export const TAG_BYTES = 16;
const AD_LABEL = new TextEncoder().encode('discordopus/files/chunk/v1');

function subkey(fileKey: Uint8Array, transferId: Uint8Array, salt: Uint8Array): Buffer {
  if (fileKey.length !== 32) throw new RangeError('ChunkCipher: expected a 32-byte file key');
  if (salt.length !== 16) throw new RangeError('ChunkCipher: expected a 16-byte salt');
  return Buffer.from(hkdfSync('sha256', fileKey, salt, Buffer.concat([AD_LABEL, transferId]), 32));
}

/** Seals and opens the chunks of one stream session of one transfer. */
export class ChunkCipher {
  private readonly key: Buffer;
  private readonly id: Uint8Array;

  constructor(fileKey: Uint8Array, transferId: string, readonly salt: Uint8Array = randomBytes(16)) {
    this.id = hexToBytes(transferId);
    this.key = subkey(fileKey, this.id, salt);
  }

  private static nonce(index: number, final: boolean): Buffer {
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(index, 7);
    nonce[11] = final ? 1 : 0;
    return nonce;
  }

  private ad(index: number, final: boolean): Buffer {
    const ad = Buffer.alloc(AD_LABEL.length + 16 + 5);
    ad.set(AD_LABEL, 0);
    ad.set(this.id, AD_LABEL.length);
    ad.writeUInt32BE(index, AD_LABEL.length + 16);
    ad[AD_LABEL.length + 20] = final ? 1 : 0;
    return ad;
  }

  /** A whole chunk frame (header, ciphertext, tag) ready for `PeerStream.write`. */
  sealFrame(index: number, final: boolean, plaintext: Uint8Array): Buffer {
    const cipher = createCipheriv('aes-256-gcm', this.key, ChunkCipher.nonce(index, final), { authTagLength: TAG_BYTES });
    cipher.setAAD(this.ad(index, final));
    const frame = Buffer.allocUnsafe(CHUNK_FRAME_HEADER + plaintext.length + TAG_BYTES);
    frame[0] = FrameType.Chunk;
    frame.writeUInt32BE(index, 1);
    frame.set(cipher.update(plaintext), CHUNK_FRAME_HEADER);
    cipher.final();
    frame.set(cipher.getAuthTag(), CHUNK_FRAME_HEADER + plaintext.length);
    return frame;
  }

  /** The plaintext, or undefined when the chunk is not the authentic chunk `index` with this final flag. */
  open(index: number, final: boolean, sealed: Uint8Array): Buffer | undefined {
    if (sealed.length < TAG_BYTES) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', this.key, ChunkCipher.nonce(index, final), { authTagLength: TAG_BYTES });
    decipher.setAAD(this.ad(index, final));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      return undefined;
    }
    return plain;
  }
}

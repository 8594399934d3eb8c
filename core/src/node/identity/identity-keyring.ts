import { userIdFromPublicKey } from '@discordopus/sdk';
import type { IdentityInfo, UserId } from '@discordopus/sdk';
import type { CryptoProvider, KeyPair } from '../../common/crypto/crypto-provider.ts';
import type { X3dhIdentity, X3dhSigner } from '../../common/protocol/x3dh.ts';

/**
 * Kernel-internal token of the {@link IdentityKeyring}. It is not in the SDK and the plugin
 * host never hands it to a plugin: only kernel services (signaling auth, prekeys, sessions)
 * inject it.
 */
export const IdentityKeyring = Symbol.for('discordopus.kernel.IdentityKeyring');

/**
 * Signs with the local Ed25519 identity key and does DH with its X25519 twin. Kernel-internal.
 * It is the local identity X3DH takes, so the secret never leaves it for a handshake.
 */
export interface IdentityKeyring extends X3dhIdentity, X3dhSigner {
  readonly info: IdentityInfo;
  readonly userId: UserId;
  /** The Ed25519 identity public key (`info.publicKey`). */
  readonly publicKey: Uint8Array;
  /** The X25519 twin of the identity public key, the `IK` used in X3DH. */
  readonly x25519PublicKey: Uint8Array;
  /** Ed25519 signature by the identity key (server auth nonces, signed prekeys). */
  sign(message: Uint8Array): Uint8Array;
  /** X25519 between the identity twin secret and `theirPublicKey` (an X3DH DH step). */
  dh(theirPublicKey: Uint8Array): Uint8Array;
  /**
   * The Ed25519 key pair itself, for the encrypted backup. Never log it, never pass it outside
   * the kernel.
   */
  keyPair(): KeyPair;
}

/** The {@link IdentityKeyring} over a secret held in memory (loaded from the encrypted profile). */
export class LocalIdentityKeyring implements IdentityKeyring {
  readonly info: IdentityInfo;
  readonly x25519PublicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  readonly #x25519SecretKey: Uint8Array;

  constructor(private readonly crypto: CryptoProvider, secretKey: Uint8Array, displayName: string) {
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
      throw new RangeError('IdentityKeyring: expected a 32-byte Ed25519 secret key');
    }
    this.#secretKey = Uint8Array.from(secretKey);
    const publicKey = crypto.ed25519PublicKey(this.#secretKey);
    this.#x25519SecretKey = crypto.ed25519SecretToX25519(this.#secretKey);
    this.x25519PublicKey = crypto.ed25519PublicToX25519(publicKey);
    this.info = Object.freeze({ userId: userIdFromPublicKey(publicKey), publicKey, displayName });
  }

  get userId(): UserId {
    return this.info.userId;
  }

  get publicKey(): Uint8Array {
    return this.info.publicKey;
  }

  sign(message: Uint8Array): Uint8Array {
    return this.crypto.ed25519Sign(this.#secretKey, message);
  }

  dh(theirPublicKey: Uint8Array): Uint8Array {
    return this.crypto.x25519(this.#x25519SecretKey, theirPublicKey);
  }

  keyPair(): KeyPair {
    return { publicKey: this.info.publicKey, secretKey: Uint8Array.from(this.#secretKey) };
  }

  /** A keyring with the same key and another display name. */
  withDisplayName(displayName: string): LocalIdentityKeyring {
    return new LocalIdentityKeyring(this.crypto, this.#secretKey, displayName);
  }
}

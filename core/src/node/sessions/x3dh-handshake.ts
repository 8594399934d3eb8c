import type { CryptoProvider, KeyPair } from '../../common/crypto/crypto-provider.ts';
import { concatBytes, utf8 } from '../../common/crypto/bytes.ts';
import type { IdentityKeyring } from '../identity/identity-keyring.ts';

/*
 * X3DH key agreement (https://signal.org/docs/specifications/x3dh/) over X25519 with the
 * identity key's X25519 twin as IK. Only key agreement lives here; bundle verification is the
 * signaling client's (signature, identity ↔ user ID) and the session manager's (contact's key).
 *
 * SK = HKDF-SHA256(ikm = 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], salt = 0×32, info, 32 bytes)
 *   DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)  DH4 = DH(EK_A, OPK_B)
 * AD = Ed25519 IK_A ‖ Ed25519 IK_B (initiator first), bound into every ratchet message.
 */

const INFO = utf8('DiscordOpus X3DH v1');
const F = new Uint8Array(32).fill(0xff);
const SALT = new Uint8Array(32);

export interface X3dhResult {
  sharedSecret: Uint8Array;
  associatedData: Uint8Array;
}

export interface X3dhInitiatorInput {
  /** The responder's Ed25519 identity key (verified against its user ID). */
  theirIdentityKey: Uint8Array;
  theirSignedPrekey: Uint8Array;
  theirOneTimePrekey: Uint8Array | undefined;
}

function derive(crypto: CryptoProvider, dhs: Uint8Array[]): Uint8Array {
  const ikm = concatBytes(F, ...dhs);
  const secret = crypto.hkdfSha256(ikm, SALT, INFO, 32);
  ikm.fill(0);
  for (const dh of dhs) dh.fill(0);
  return secret;
}

/**
 * The initiator's side. Returns the shared secret, the AD and the ephemeral public key to send.
 * @throws CryptoError `crypto/invalid-public-key` for a bad prekey or identity key.
 */
export function x3dhInitiate(crypto: CryptoProvider, keyring: IdentityKeyring, input: X3dhInitiatorInput): X3dhResult & { ephemeralKey: Uint8Array } {
  const ephemeral: KeyPair = crypto.x25519GenerateKeyPair();
  const theirIk = crypto.ed25519PublicToX25519(input.theirIdentityKey);
  const dhs = [
    keyring.dh(input.theirSignedPrekey),
    crypto.x25519(ephemeral.secretKey, theirIk),
    crypto.x25519(ephemeral.secretKey, input.theirSignedPrekey),
  ];
  if (input.theirOneTimePrekey) dhs.push(crypto.x25519(ephemeral.secretKey, input.theirOneTimePrekey));
  const sharedSecret = derive(crypto, dhs);
  ephemeral.secretKey.fill(0);
  return { sharedSecret, associatedData: concatBytes(keyring.info.publicKey, input.theirIdentityKey), ephemeralKey: ephemeral.publicKey };
}

export interface X3dhResponderInput {
  /** The initiator's Ed25519 identity key (checked against the sender's user ID by the caller). */
  theirIdentityKey: Uint8Array;
  theirEphemeralKey: Uint8Array;
  signedPrekey: KeyPair;
  oneTimePrekey: KeyPair | undefined;
}

/**
 * The responder's side, from the initiator's first message.
 * @throws CryptoError `crypto/invalid-public-key` for a bad ephemeral or identity key.
 */
export function x3dhRespond(crypto: CryptoProvider, keyring: IdentityKeyring, input: X3dhResponderInput): X3dhResult {
  const theirIk = crypto.ed25519PublicToX25519(input.theirIdentityKey);
  const dhs = [
    crypto.x25519(input.signedPrekey.secretKey, theirIk),
    keyring.dh(input.theirEphemeralKey),
    crypto.x25519(input.signedPrekey.secretKey, input.theirEphemeralKey),
  ];
  if (input.oneTimePrekey) dhs.push(crypto.x25519(input.oneTimePrekey.secretKey, input.theirEphemeralKey));
  return { sharedSecret: derive(crypto, dhs), associatedData: concatBytes(input.theirIdentityKey, keyring.info.publicKey) };
}

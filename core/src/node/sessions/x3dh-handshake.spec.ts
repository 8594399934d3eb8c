import { describe, expect, it } from 'vitest';
import { NodeCryptoProvider } from '../crypto/node-crypto-provider.ts';
import { NobleCryptoProvider } from '../../common/crypto/noble-crypto-provider.ts';
import { LocalIdentityKeyring } from '../identity/identity-keyring.ts';
import * as protocol from '../../common/protocol/x3dh.ts';
import { x3dhInitiate, x3dhRespond } from './x3dh-handshake.ts';

describe('x3dh-handshake', () => {
  for (const crypto of [new NodeCryptoProvider(), new NobleCryptoProvider()]) {
    it(`agrees with itself and with the protocol module's X3DH both ways (${crypto.name})`, () => {
      const alice = new LocalIdentityKeyring(crypto, crypto.ed25519GenerateKeyPair().secretKey, 'alice');
      const bob = new LocalIdentityKeyring(crypto, crypto.ed25519GenerateKeyPair().secretKey, 'bob');
      const spk = crypto.x25519GenerateKeyPair();
      const otk = crypto.x25519GenerateKeyPair();
      for (const oneTime of [otk, undefined]) {
        const init = x3dhInitiate(crypto, alice, { theirIdentityKey: bob.info.publicKey, theirSignedPrekey: spk.publicKey, theirOneTimePrekey: oneTime?.publicKey });
        const resp = x3dhRespond(crypto, bob, { theirIdentityKey: alice.info.publicKey, theirEphemeralKey: init.ephemeralKey, signedPrekey: spk, oneTimePrekey: oneTime });
        expect(resp.sharedSecret).toEqual(init.sharedSecret);
        expect(resp.associatedData).toEqual(init.associatedData);
        // The kernel's keyring-based side against common/protocol's key-pair-based side.
        const theirs = protocol.x3dhRespond(crypto, bob.keyPair(), spk.secretKey, oneTime?.secretKey, {
          identityKey: alice.info.publicKey, ephemeralKey: init.ephemeralKey, signedPrekeyId: 1, oneTimePrekeyId: oneTime ? 2 : undefined,
        });
        expect(theirs.sharedSecret).toEqual(init.sharedSecret);
        expect(theirs.associatedData).toEqual(init.associatedData);
      }
      const signedPrekey = { id: 7, publicKey: spk.publicKey, signature: crypto.ed25519Sign(bob.keyPair().secretKey, protocol.signedPrekeyMessage(7, spk.publicKey)) };
      const theirInit = protocol.x3dhInitiate(crypto, alice.keyPair(), { identityKey: bob.info.publicKey, signedPrekey, oneTimePrekey: { id: 8, publicKey: otk.publicKey } });
      const ours = x3dhRespond(crypto, bob, { theirIdentityKey: alice.info.publicKey, theirEphemeralKey: theirInit.header.ephemeralKey, signedPrekey: spk, oneTimePrekey: otk });
      expect(ours.sharedSecret).toEqual(theirInit.sharedSecret);
      expect(ours.associatedData).toEqual(theirInit.associatedData);
    });
  }

  it('refuses a small-order ephemeral key', () => {
    const crypto = new NodeCryptoProvider();
    const bob = new LocalIdentityKeyring(crypto, crypto.ed25519GenerateKeyPair().secretKey, 'bob');
    const alice = crypto.ed25519GenerateKeyPair();
    expect(() => x3dhRespond(crypto, bob, { theirIdentityKey: alice.publicKey, theirEphemeralKey: new Uint8Array(32), signedPrekey: crypto.x25519GenerateKeyPair(), oneTimePrekey: undefined }))
      .toThrow(/public key|invalid/i);
  });
});

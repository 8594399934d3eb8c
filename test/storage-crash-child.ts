/**
 * Child process of storage-crash.test.ts: opens the encrypted profile and loops forever, each
 * turn one Double Ratchet encryption whose new state and produced message are committed in ONE
 * transaction. The parent kills it with SIGKILL at random points.
 *
 * usage: node --import tsx test/storage-crash-child.ts <profile dir> <passphrase>
 */
import { NodeCryptoProvider } from '../core/src/node/crypto/node-crypto-provider.ts';
import { openProfileDatabase } from '../core/src/node/storage/profile-database.ts';
import { TEST_KDF } from '../core/src/node/storage/storage-test-support.ts';
import { deserializeRatchetState, ratchetEncrypt, serializeRatchetState } from '../core/src/common/protocol/double-ratchet.ts';

const [dir, passphrase] = process.argv.slice(2);
if (!dir || !passphrase) throw new TypeError('usage: storage-crash-child.ts <dir> <passphrase>');
const crypto = new NodeCryptoProvider();
const profile = await openProfileDatabase({ dir, passphrase, crypto, kdf: TEST_KDF });
const row = await profile.db.selectFrom('kernel_sessions').select('state').where('peer', '=', 'bob').executeTakeFirstOrThrow();
let state = deserializeRatchetState(row.state as Uint8Array);
process.stdout.write('ready\n');
for (;;) {
  const seq = state.sendCount;
  const { state: next, message } = ratchetEncrypt(crypto, state, new TextEncoder().encode(`message ${seq}`));
  await profile.db.transaction().execute(async (trx) => {
    await trx.updateTable('kernel_sessions').set({ state: serializeRatchetState(next) }).where('peer', '=', 'bob').execute();
    await trx.insertInto('kernel_outbox').values({ seq, message }).execute();
  });
  // Only after the commit does the message count as sent (the kernel would hand it to the network now).
  state = next;
}

/*
 * A client in its own process for the two-process stream scenario:
 *   node --import tsx test/streams-child.ts <profileDir> <serverUrl>
 * Prints {"id": "<userId>"} once signaling is ready; then takes JSON lines on stdin:
 * {"addContact": "<userId>"} (answered with {"added": "<userId>"}). It runs the stream-test
 * plugin (echo and sink streams), with peer links on 127.0.0.1 only.
 */
import { createInterface } from 'node:readline';
import { SecureChannels, parseUserId } from '@discordopus/sdk';
import { createClient } from '../core/src/node/client/create-client.ts';
import { TEST_PEER_LINKS, TEST_PROFILE_KDF } from '../core/src/node/client/test-profiles.ts';
import type { SecureChannelsImpl } from '../core/src/node/channels/secure-channels-impl.ts';
import { streamTestPlugin } from './streams-support.ts';

const [profileDir, serverUrl] = process.argv.slice(2);
if (!profileDir || !serverUrl) {
  process.stderr.write('usage: streams-child.ts <profileDir> <serverUrl>\n');
  process.exit(2);
}

const write = (record: unknown) => process.stdout.write(`${JSON.stringify(record)}\n`);
const client = await createClient({
  profileDir, passphrase: 'streams child', create: true, profileKdf: TEST_PROFILE_KDF,
  serverUrl, connectSignaling: true, peerLinks: TEST_PEER_LINKS, plugins: [streamTestPlugin()],
});
await client.kernel.container.get<SecureChannelsImpl>(SecureChannels).whenReady();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const record = JSON.parse(line) as { addContact?: string };
    if (record.addContact) {
      void client.contacts.add(parseUserId(record.addContact)).then(() => write({ added: record.addContact }));
    }
  })
  .on('close', () => void client.close().finally(() => process.exit(0)));
write({ id: client.identity.userId });

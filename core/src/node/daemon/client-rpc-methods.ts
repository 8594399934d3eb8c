import type { Contact, Disposable } from '@discordopus/sdk';
import { contactToJson } from './contact-json.ts';
import path from 'node:path';
import { z } from 'zod';
import type { DiscordOpusClient } from '../client/create-client.ts';
import { compareSafetyNumberPayload } from '../identity/safety-number.ts';
import { rpcMethod } from './rpc-server.ts';
import { messagingRpcMethods } from './messaging-rpc-methods.ts';
import { callsRpcMethods } from './calls-rpc-methods.ts';
import { filesRpcMethods } from './files-rpc-methods.ts';

export { contactToJson, type ContactJson } from './contact-json.ts';
import type { RpcMethodTable, RpcSession } from './rpc-server.ts';

/*
 * The client API as JSON-RPC methods: what the daemon serves on its Unix socket and what the
 * renderer bridge can serve over a local WebSocket. Bytes travel as lower-case hex.
 */

const hex32 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 32 bytes as 64 hex digits');
const contactRef = z.string().trim().min(1).max(200);
const none = z.strictObject({});
const topicName = z.string().regex(/^[a-z][a-z0-9-]*\.[A-Za-z0-9.-]+$/, 'expected a topic such as contacts.changed');

const SUBSCRIPTIONS = 'subscriptions';

/** The method table of a client. */
export function clientRpcMethods(client: DiscordOpusClient): RpcMethodTable {
  const json = (c: Contact) => contactToJson(c, client.contacts.presence(c.userId));
  return {
    'identity.get': rpcMethod(none, () => ({
      userId: client.identity.userId,
      publicKey: Buffer.from(client.identity.publicKey).toString('hex'),
      displayName: client.identity.displayName,
    })),
    'contacts.list': rpcMethod(none, async () => (await client.contacts.list()).map(json)),
    'contacts.get': rpcMethod(z.strictObject({ contact: contactRef }), async ({ contact }) => json(await client.contacts.resolve(contact))),
    'contacts.add': rpcMethod(
      z.strictObject({ userId: z.string().max(200), name: z.string().max(200).optional(), identityKey: hex32.optional() }),
      async ({ userId, name, identityKey }) => json(await client.contacts.add(userId, {
        ...(name !== undefined ? { name } : {}),
        ...(identityKey !== undefined ? { identityKey: new Uint8Array(Buffer.from(identityKey, 'hex')) } : {}),
      })),
    ),
    'contacts.rename': rpcMethod(z.strictObject({ contact: contactRef, name: z.string().max(200).nullable() }),
      async ({ contact, name }) => json(await client.contacts.rename(contact, name))),
    'contacts.remove': rpcMethod(z.strictObject({ contact: contactRef }), async ({ contact }) => json(await client.contacts.remove(contact))),
    'contacts.verify': rpcMethod(z.strictObject({ contact: contactRef, verified: z.boolean().optional() }),
      async ({ contact, verified }) => json(await client.contacts.verify(contact, verified ?? true))),
    'contacts.acceptIdentityChange': rpcMethod(z.strictObject({ contact: contactRef }),
      async ({ contact }) => json(await client.contacts.acceptIdentityChange(contact))),
    'safetyNumber.get': rpcMethod(z.strictObject({ contact: contactRef }), async ({ contact }) => {
      const n = await client.safetyNumber(contact);
      return { userId: n.contact.userId, digits: n.digits, groups: n.groups, payload: n.payload };
    }),
    'safetyNumber.compare': rpcMethod(z.strictObject({ contact: contactRef, payload: z.string().max(1000) }), async ({ contact, payload }) => {
      const n = await client.safetyNumber(contact);
      return { match: compareSafetyNumberPayload(n, payload) };
    }),
    // The daemon's working directory means nothing to its callers: paths must be absolute.
    'backup.export': rpcMethod(z.strictObject({ file: z.string().max(4096).refine(path.isAbsolute, 'expected an absolute path'), passphrase: z.string().max(1024) }),
      async ({ file, passphrase }) => client.exportBackup(file, passphrase)),
    'plugins.list': rpcMethod(none, () => client.kernel.plugins()),
    'commands.list': rpcMethod(none, () => client.kernel.contributions.commands()),
    'commands.execute': rpcMethod(z.strictObject({ id: z.string().min(1).max(200), args: z.array(z.unknown()).max(32).optional() }),
      async ({ id, args }) => client.kernel.contributions.executeCommand(id, ...(args ?? []))),
    subscribe: rpcMethod(z.strictObject({ topics: z.array(topicName).min(1).max(64).optional() }), ({ topics }, session) => {
      const subs = subscriptionsOf(session);
      const next = ((session.state.get('nextSubscription') as number | undefined) ?? 0) + 1;
      session.state.set('nextSubscription', next);
      const id = `s${next}`;
      const handle = client.observe(topics)((event) => session.notify('event', { subscription: id, ...event }));
      subs.set(id, session.subscriptions.push(handle));
      return { subscription: id };
    }),
    unsubscribe: rpcMethod(z.strictObject({ subscription: z.string().max(50) }), ({ subscription }, session) => {
      const subs = subscriptionsOf(session);
      const handle = subs.get(subscription);
      handle?.dispose();
      subs.delete(subscription);
      return { removed: handle !== undefined };
    }),
    ...messagingRpcMethods(client),
    ...callsRpcMethods(client),
    ...filesRpcMethods(client),
  };
}

function subscriptionsOf(session: RpcSession): Map<string, Disposable> {
  let subs = session.state.get(SUBSCRIPTIONS) as Map<string, Disposable> | undefined;
  if (!subs) session.state.set(SUBSCRIPTIONS, (subs = new Map()));
  return subs;
}

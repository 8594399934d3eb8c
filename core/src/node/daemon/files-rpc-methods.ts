import path from 'node:path';
import { z } from 'zod';
import type { DiscordOpusClient } from '../client/create-client.ts';
import { filesOf } from '../cli/commands/files-client.ts';
import { rpcMethod, type RpcMethodTable } from './rpc-server.ts';

/*
 * The files plugin's API as JSON-RPC methods (`files.*`). Progress and state changes reach
 * daemon clients through `subscribe` with the topic `files.transfer`. The daemon's working
 * directory means nothing to its callers, so paths must be absolute.
 */

const contactRef = z.string().trim().min(1).max(200);
const transferId = z.string().regex(/^[0-9a-f]{32}$/, 'expected a transfer id of 32 hex digits');
const absolute = z.string().min(1).max(4096).refine(path.isAbsolute, 'expected an absolute path');

export function filesRpcMethods(client: DiscordOpusClient): RpcMethodTable {
  const api = () => filesOf(client);
  return {
    'files.send': rpcMethod(z.strictObject({ contact: contactRef, path: absolute }), ({ contact, path: file }) => api().send(contact, file)),
    'files.list': rpcMethod(z.strictObject({}), () => api().list()),
    'files.accept': rpcMethod(z.strictObject({ transferId, dir: absolute.optional() }), ({ transferId: id, dir }) => api().accept(id, dir)),
    'files.decline': rpcMethod(z.strictObject({ transferId }), ({ transferId: id }) => api().decline(id)),
    'files.cancel': rpcMethod(z.strictObject({ transferId }), ({ transferId: id }) => api().cancel(id)),
  };
}

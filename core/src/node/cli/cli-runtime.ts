/*
 * The heavy part of the CLI (kernel, storage, daemon, QR renderer), imported only once a command
 * runs, so `--help` and usage errors answer without loading the database stack.
 */
export { default as QRCode } from 'qrcode';
export { createClient, peerLinksFromEnv, restoreClientFromBackup } from '../client/create-client.ts';
export { createLogger } from '../kernel/kernel.ts';
export { profileExists } from '../storage/profile-database.ts';
export { compareSafetyNumberPayload } from '../identity/safety-number.ts';
export { clientRpcMethods } from '../daemon/client-rpc-methods.ts';
export { RpcServer } from '../daemon/rpc-server.ts';
export { UnixSocketTransport } from '../daemon/unix-socket-transport.ts';

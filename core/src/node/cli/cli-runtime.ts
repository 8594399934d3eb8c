/*
 * The heavy part of the CLI (kernel, storage), imported only once a command runs, so `--help` and
 * usage errors answer without loading the database stack. The daemon's parts (daemon-runtime.ts),
 * the QR renderer and the media engine load only in the commands that use them.
 */
export { createClient, peerLinksFromEnv, restoreClientFromBackup } from '../client/create-client.ts';
export { createLogger } from '../kernel/kernel.ts';
export { profileExists } from '../storage/profile-database.ts';
export { compareSafetyNumberPayload } from '../identity/safety-number.ts';

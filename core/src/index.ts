/**
 * @discordopus/core: the kernel package's public entry. Hosts (Electron main, the web bridge,
 * bots, tests) start a client here; plugins never import this package (they use the SDK).
 */
export * from './common/crypto/index.ts';
export * from './common/protocol/index.ts';
export * from './node/crypto/index.ts';

export { Kernel, createLogger } from './node/kernel/kernel.ts';
export type { KernelOptions, LoggerOptions, PermissionGrants, PluginState, PluginStatus, ContributionService } from './node/kernel/kernel.ts';
export { openProfileDatabase, profileExists, changePassphrase } from './node/storage/profile-database.ts';
export type { ProfileDatabase, OpenProfileOptions } from './node/storage/profile-database.ts';
export { runMigrations } from './node/storage/migrations.ts';

export { createClient, restoreClientFromBackup, KERNEL_MIGRATION_OWNER, KERNEL_TOPICS } from './node/client/create-client.ts';
export type { ClientOptions, ClientProgress, ClientEvent, DiscordOpusClient } from './node/client/create-client.ts';
export { peerLinksFromEnv, PEER_LINKS_ENV, STUN_ENV } from './node/client/create-client.ts';
export { LOOPBACK_SCTP_TUNING } from './node/peer/peer-link.ts';
export type { ClientPeerLinkOptions } from './node/client/create-client.ts';
export { UnconnectedChannels } from './node/client/unconnected-channels.ts';

export { IdentityKeyring, LocalIdentityKeyring } from './node/identity/identity-keyring.ts';
export { computeSafetyNumber, compareSafetyNumberPayload, SAFETY_NUMBER_ITERATIONS } from './node/identity/safety-number.ts';
export type { SafetyNumber, SafetyParty } from './node/identity/safety-number.ts';
export { sealBackup, openBackup, DEFAULT_BACKUP_KDF, BACKUP_FORMAT_VERSION } from './node/identity/identity-backup.ts';
export type { BackupContents, BackupContact, BackupKdfParams } from './node/identity/identity-backup.ts';
export { ContactsServiceImpl, normalizeContactName } from './node/contacts/contacts-service-impl.ts';
export type { IdentityKeyOutcome } from './node/contacts/contacts-service-impl.ts';

export { RpcServer, RpcErrorCode, rpcMethod } from './node/daemon/rpc-server.ts';
export type { RpcConnection, RpcMethod, RpcMethodTable, RpcSession } from './node/daemon/rpc-server.ts';
export { clientRpcMethods, contactToJson } from './node/daemon/client-rpc-methods.ts';
export type { ContactJson } from './node/daemon/client-rpc-methods.ts';
export { UnixSocketTransport } from './node/daemon/unix-socket-transport.ts';
export { ExitCode, exitCodeFor } from './node/cli/exit-codes.ts';
export { firstPartyPlugins } from './node/client/first-party-plugins.ts';

/**
 * @discordopus/plugin-files: end-to-end encrypted peer-to-peer file transfer as a plugin on the
 * SDK. The default export is the plugin; its `activate` returns a {@link FilesApi}.
 */
export { filesPlugin as default, createFilesPlugin } from './node/files-plugin.ts';
export { DEFAULT_CHUNK_BYTES } from './node/files-service.ts';
export type { FilesServiceOptions } from './node/files-service.ts';
export type { FilesFs, FileHandleLike } from './node/files-fs.ts';
export { nodeFilesFs } from './node/files-fs.ts';
export { ChunkCipher } from './node/chunk-cipher.ts';
export type * from './common/files-api.ts';
export * from './common/files-protocol.ts';
export { sanitizeFileName } from './common/sanitize-file-name.ts';

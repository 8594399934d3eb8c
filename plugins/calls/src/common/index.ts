/**
 * The runtime-free part of @discordopus/plugin-calls (`@discordopus/plugin-calls/common`): the
 * media engine contract, the API and the wire records. Safe to import in the renderer.
 */
export type * from './media-engine.ts';
export * from './calls-api.ts';
export * from './calls-protocol.ts';
export * from './engine-bridge.ts';

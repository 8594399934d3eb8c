/**
 * @discordopus/plugin-calls: end-to-end encrypted 1:1 voice and video calls as a plugin on the
 * SDK. The default export is the plugin; its `activate` returns a {@link CallsApi}. Node only
 * (it bundles the werift engine); the renderer imports `@discordopus/plugin-calls/common`.
 */
export { callsPlugin as default, createCallsPlugin, type CreateCallsPluginOptions } from './node/calls-plugin.ts';
export { WeriftMediaEngine, BUILT_IN_CLIP, type WeriftMediaEngineOptions } from './node/werift-media-engine.ts';
export type { CallsServiceOptions } from './node/calls-service.ts';
export type * from './common/media-engine.ts';
export * from './common/calls-api.ts';
export * from './common/calls-protocol.ts';
export * from './common/engine-bridge.ts';

/**
 * @discordopus/plugin-messaging: end-to-end encrypted 1:1 text messaging as a plugin on the SDK.
 * The default export is the plugin; its `activate` returns a {@link MessagingApi}.
 */
export { messagingPlugin as default, createMessagingPlugin } from './node/messaging-plugin.ts';
export type * from './common/messaging-api.ts';
export * from './common/messaging-protocol.ts';

/*
 * The calls plugin's renderer side (`@discordopus/plugin-calls/renderer`): the Chromium media
 * engine the desktop app runs in its window. No Node, no kernel: the host drives it over the
 * bridge (host-electron/src/node/calls-engine-relay.ts).
 */
export * from './call-quality.ts';
export * from './media-devices.ts';
export * from './renderer-media-session.ts';
export * from './renderer-media-engine.ts';

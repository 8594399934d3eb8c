/**
 * @discordopus/sdk: the public, semver-stable surface that plugins are written against.
 * Third-party plugins depend on this package only.
 */
export * from './common/disposable.ts';
export * from './common/event.ts';
export * from './common/errors.ts';
export * from './common/user-id.ts';
export * from './common/contributions.ts';
export * from './common/plugin.ts';
export * from './common/services.ts';
export * from './common/signaling-protocol.ts';
export * from './common/storage-fts.ts';
export * from './common/prepared-query.ts';
